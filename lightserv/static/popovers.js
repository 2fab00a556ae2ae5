// Help popovers: every "?" button with data-bs-toggle="popover" shows its text when focused.
(function () {
  "use strict";
  document.querySelectorAll("[data-bs-toggle=popover]").forEach(function (el) { new window.bootstrap.Popover(el); });
})();
