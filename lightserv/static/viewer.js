// Viewer session cards: poll each session's status every 2 s until it is ready or has ended, then enable
// "Open in Neuroglancer" or show the message and "Try again". "Copy link" copies the persistent link.
(function () {
  "use strict";
  var LABELS = {starting: "Starting", ready: "Ready", stopping: "Stopping", stopped: "Stopped", expired: "Expired", failed: "Failed"};
  var BADGES = {starting: "text-bg-info", ready: "text-bg-success", failed: "text-bg-danger"};
  function update(card, state) {
    var badge = card.querySelector("[data-role=status]");
    badge.textContent = LABELS[state.status] || state.status;
    badge.className = "badge " + (BADGES[state.status] || "text-bg-secondary");
    var open = card.querySelector("[data-role=open]");
    if (state.url) {
      open.href = state.url;
      open.classList.remove("disabled");
      open.removeAttribute("aria-disabled");
      open.removeAttribute("tabindex");
    }
    card.querySelector("[data-role=message]").textContent = state.status === "failed" ? state.message : "";
    var retry = card.querySelector("[data-role=retry]");
    if (retry) { retry.classList.toggle("d-none", state.status !== "failed"); }
    var progress = card.querySelector("[data-role=progress]");
    if (progress && state.status !== "starting") { progress.remove(); }
  }
  function poll(card) {
    fetch(card.getAttribute("data-status-url"), {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (state) {
        if (!state) { return; }
        update(card, state);
        if (state.status === "starting" || state.status === "stopping") { setTimeout(function () { poll(card); }, 2000); }
      })
      .catch(function () { setTimeout(function () { poll(card); }, 2000); });
  }
  document.querySelectorAll("[data-testid=session-card]").forEach(poll);
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) { return; }
    var text = button.getAttribute("data-copy");
    var done = function () { button.textContent = "Link copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { window.prompt("Copy this link:", text); });
    } else {
      window.prompt("Copy this link:", text);
    }
  });
})();
