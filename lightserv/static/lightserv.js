// Small progressive enhancements; every page works without JavaScript.
(function () {
  "use strict";
  // Confirmation for buttons that discard input.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.getAttribute("data-confirm"))) { event.preventDefault(); }
  });
  // "Today" buttons fill the date input they name with today's date in facility time (data-timezone).
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-today-for]");
    if (!button) { return; }
    var zone = button.getAttribute("data-timezone") || undefined;
    var today = new Intl.DateTimeFormat("en-CA", {timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit"}).format(new Date());
    document.getElementById(button.getAttribute("data-today-for")).value = today;
  });
  // Character counters for fields with a maxlength (in `root`: the page, or content a script swapped in).
  function addCounters(root) {
    root.querySelectorAll("textarea[maxlength], input[maxlength]").forEach(function (el) {
      var note = document.createElement("div");
      note.className = "form-text text-end";
      note.setAttribute("aria-live", "polite");
      var update = function () { note.textContent = el.value.length + " / " + el.getAttribute("maxlength") + " characters"; };
      el.insertAdjacentElement("afterend", note);
      el.addEventListener("input", update);
      update();
    });
  }
  // Move focus to the section the last action changed (named by the form's data-focus).
  function focusChanged(root) {
    var form = root.querySelector("form[data-focus]");
    var target = form && form.getAttribute("data-focus") && document.getElementById(form.getAttribute("data-focus"));
    if (target) {
      target.scrollIntoView({block: "start"});
      var input = target.querySelector("input:not([type=hidden]), select, textarea");
      (input || target).focus({preventScroll: true});
    }
  }
  addCounters(document);
  focusChanged(document);
  window.lightserv = {addCounters: addCounters, focusChanged: focusChanged};
})();
