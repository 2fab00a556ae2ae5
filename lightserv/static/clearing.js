// Clearing entry form: "Now" and "Today" fill inputs in facility time (nothing is stored until Save),
// and "Complete clearing" first shows the blank entries. Every action also works without JavaScript.
(function () {
  "use strict";
  var form = document.getElementById("entry-form");
  if (!form) { return; }
  var zone = form.getAttribute("data-timezone") || undefined;

  function facilityNow() {
    var fmt = new Intl.DateTimeFormat("en-CA", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23"
    });
    var out = {};
    fmt.formatToParts(new Date()).forEach(function (p) { out[p.type] = p.value; });
    return out;
  }

  function fill(id, value) {
    var input = document.getElementById(id);
    if (!input || input.disabled) { return; }
    input.value = value;
    input.dispatchEvent(new Event("input", {bubbles: true}));
    input.dispatchEvent(new Event("change", {bubbles: true}));
    input.focus();
  }

  form.addEventListener("click", function (event) {
    var now = event.target.closest("[data-fill-now]");
    if (now) {
      var p = facilityNow();
      fill(now.getAttribute("data-fill-now"), p.year + "-" + p.month + "-" + p.day + "T" + p.hour + ":" + p.minute);
      return;
    }
    var today = event.target.closest("[data-fill-today]");
    if (today) {
      var d = facilityNow();
      fill(today.getAttribute("data-fill-today"), d.year + "-" + d.month + "-" + d.day);
    }
  });

  var complete = form.querySelector("[data-complete-dialog]");
  var dialog = document.getElementById("complete-dialog");
  if (complete && dialog && window.bootstrap) {
    complete.addEventListener("click", function (event) {
      event.preventDefault();
      var blanks = [];
      form.querySelectorAll("[data-blank-label]").forEach(function (el) {
        if (!el.value) { blanks.push(el.getAttribute("data-blank-label")); }
      });
      var summary = document.getElementById("complete-summary");
      var list = document.getElementById("complete-blanks");
      summary.textContent = blanks.length === 0 ? "There are no blank entries."
        : (blanks.length === 1 ? "There is 1 blank entry:" : "There are " + blanks.length + " blank entries:");
      list.textContent = "";
      blanks.forEach(function (label) {
        var li = document.createElement("li");
        li.textContent = label;
        list.appendChild(li);
      });
      window.bootstrap.Modal.getOrCreateInstance(dialog).show();
    });
  }
})();
