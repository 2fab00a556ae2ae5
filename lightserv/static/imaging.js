// Imaging entry form: while a sample's raw data is being validated, show the validator's progress every 2 s
// and reload the page when it has finished (the page itself shows the outcome); "Copy" puts a raw-data
// folder on the clipboard.
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

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) { return; }
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) { return; }
    var text = source.textContent.trim();
    var status = button.parentElement.querySelector("[data-copy-status]");
    var done = function (ok) {
      if (!ok) { selectText(source); }
      if (status) { status.textContent = ok ? "Copied." : "Selected: press Ctrl+C (⌘C) to copy."; }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { done(true); }, function () { done(false); });
    } else {
      done(false);
    }
  });
})();
