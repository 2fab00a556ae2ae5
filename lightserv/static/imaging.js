// Imaging entry form: while a sample's raw data is being validated, show the validator's progress every 2 s
// and reload the page when it has finished (the page itself shows the outcome).
(function () {
  "use strict";
  document.querySelectorAll("[data-validation-url]").forEach(function (box) {
    var timer = setInterval(function () {
      fetch(box.getAttribute("data-validation-url"), {credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (state) {
          if (state.status !== "running") { clearInterval(timer); window.location.reload(); return; }
          box.querySelector("[data-testid=validation-progress]").textContent = state.messages.join(" ");
        });
    }, 2000);
  });
})();
