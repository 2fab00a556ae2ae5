// Clearing entry form: "Now" and "Today" fill inputs in facility time (nothing is stored until Save), a
// step's "Reason for skipping" shows while "Skipped" is ticked, "Complete clearing" first lists the steps
// still without a time or a reason, and leaving the page with unsaved changes asks first. Every action
// also works without JavaScript (the server checks everything again).
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

  // "Skipped" shows the reason field of its step.
  function showReason(box, focus) {
    var reason = document.getElementById(box.getAttribute("data-skip-toggle"));
    if (!reason) { return; }
    reason.hidden = !box.checked;
    if (box.checked && focus) { reason.querySelector("input").focus(); }
  }
  form.querySelectorAll("[data-skip-toggle]").forEach(function (box) {
    showReason(box, false);
    box.addEventListener("change", function () { showReason(box, true); });
  });

  // A step is recorded when it has a time, or is ticked "Skipped" with a reason (the server's rule).
  function recorded(key) {
    var prefix = "step-" + key;
    var time = document.getElementById(prefix + "-time");
    var skipped = document.getElementById(prefix + "-skipped");
    var reason = document.getElementById(prefix + "-skip-reason");
    return Boolean(time && time.value) || Boolean(skipped && skipped.checked && reason && reason.value.trim());
  }

  var complete = form.querySelector("[data-complete-dialog]");
  var dialog = document.getElementById("complete-dialog");
  if (complete && dialog && window.bootstrap) {
    complete.addEventListener("click", function (event) {
      event.preventDefault();
      var missing = 0;
      dialog.querySelectorAll("[data-unrecorded]").forEach(function (item) {
        item.hidden = recorded(item.getAttribute("data-unrecorded"));
        if (!item.hidden) { missing += 1; }
      });
      var blankDates = 0;
      dialog.querySelectorAll("[data-blank-date-item]").forEach(function (item) {
        var input = form.querySelector("[data-blank-date='" + item.getAttribute("data-blank-date-item") + "']");
        item.hidden = Boolean(input && input.value);
        if (!item.hidden) { blankDates += 1; }
      });
      dialog.querySelector("[data-dialog-part=unrecorded]").hidden = missing === 0;
      dialog.querySelector("[data-dialog-part=recorded]").hidden = missing !== 0;
      dialog.querySelector("[data-dialog-part=blank-dates]").hidden = blankDates === 0;
      dialog.querySelector("[data-testid=confirm-complete]").disabled = missing !== 0;
      window.bootstrap.Modal.getOrCreateInstance(dialog).show();
    });
  }

  // Leaving with unsaved changes asks first: the form is dirty when its values differ from those it was
  // loaded with, or when the server re-showed values it did not store (data-unsaved).
  if (!form.hasAttribute("data-guard-unsaved")) { return; }
  function snapshot() {
    var parts = [];
    new FormData(form).forEach(function (value, name) {
      if (name !== "csrf_token") { parts.push(name + "=" + value); }
    });
    return parts.join("&");
  }
  var loaded = snapshot();
  var unsavedAtLoad = form.hasAttribute("data-unsaved");
  var submitting = false;
  form.addEventListener("submit", function () { submitting = true; });
  window.addEventListener("beforeunload", function (event) {
    if (submitting || !(unsavedAtLoad || snapshot() !== loaded)) { return; }
    event.preventDefault();
    event.returnValue = "";
  });
})();
