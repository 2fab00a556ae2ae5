// The new-request form's in-place actions (buttons with data-inplace: add or remove a sample or a resolution,
// copy clearing or imaging). The button's own post is sent with fetch, asking for the form alone
// (X-Lightserv-Fragment: new-request); the server's re-rendered form replaces the old one, focus moves to what
// changed and a status line says what happened. The server checks everything as for a page load. When the
// answer is not the form (an error page, a login page, no network), the same post is sent as a normal page
// load. Without JavaScript every button reloads the page. Nothing is kept in the browser's storage.
(function () {
  "use strict";
  var FRAGMENT = "new-request";
  var area = document.getElementById("new-request-area");
  var status = document.getElementById("new-request-status");
  if (!area || !window.fetch || !window.lightserv) { return; }
  var busy = false;

  function reloadWith(form, button) {
    form.setAttribute("data-full-page", "");
    form.requestSubmit(button);
  }

  area.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter;
    if (!button || !button.hasAttribute("data-inplace") || form.hasAttribute("data-full-page")) { return; }
    event.preventDefault();
    if (busy) { return; }
    busy = true;
    area.setAttribute("aria-busy", "true");
    var body = new URLSearchParams(new FormData(form, button));
    fetch(form.getAttribute("action"), {  // form.action would be the buttons named "action"
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: {"X-Lightserv-Fragment": FRAGMENT},
    }).then(function (response) {
      if (response.headers.get("X-Lightserv-Fragment") !== FRAGMENT) { throw new Error("not the form"); }
      return response.text();
    }).then(function (html) {
      area.innerHTML = html;
      window.lightserv.addCounters(area);
      window.lightserv.focusChanged(area);
      var changed = area.querySelector("form[data-announce]");
      status.textContent = changed ? changed.getAttribute("data-announce") : "";
    }).catch(function () {
      reloadWith(form, button);
    }).finally(function () {
      busy = false;
      area.removeAttribute("aria-busy");
    });
  });
})();
