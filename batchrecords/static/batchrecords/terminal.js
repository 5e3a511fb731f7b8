// The operator terminal's behaviours (no inline scripts: CSP forbids them).
//
// * The scan field: a scan ends with Enter and is checked at once (htmx); the field is then
//   emptied and focused again, so the next scan never appends to the last one.
// * The step timer: the time on the step since this terminal first opened it, against the
//   expected time.
// * The idle lock: the session locks after its idle limit; the last two minutes are counted
//   down in the header, and at zero the page reloads (to the login page).
// * A refusal shown in place of the step closes the sign dialog and focuses the summary.
// * A safety refusal of a scan is a modal alarm until acknowledged (as custody's scan.js).
(function () {
  "use strict";

  function scanField() { return document.querySelector("#scan-form .scan-input"); }

  document.addEventListener("htmx:afterRequest", function (event) {
    const form = event.detail.elt;
    if (form && form.id === "scan-form") {
      const field = scanField();
      if (field) { field.value = ""; field.focus(); }
    }
    // The person's own requests count as activity; the top bar's background polling not.
    if (form && form.closest && form.closest("#step-card, #dialog")) { idle.reset(); }
  });

  // The screen swapped in place of the old one (a refusal): its events fire on the new
  // screen, since the old one left the document.
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.target && event.target.id === "step-card") {
      const dialog = document.getElementById("dialog");
      if (dialog) { dialog.innerHTML = ""; }
      start();
    }
  });

  // Chromium leaves empty style="" attributes on form fields; htmx's settle would copy them
  // onto the swapped-in elements, which the CSP (no inline styles) refuses.
  document.addEventListener("htmx:beforeSwap", function () {
    document.querySelectorAll(".terminal [style=''], #dialog [style='']").forEach(
      function (element) { element.removeAttribute("style"); });
  });

  // A safety refusal's alarm is modal: the page behind it is inert, Escape does not close it,
  // only its button does; the alarm itself has the focus, so a scanner's trailing Enter
  // cannot acknowledge it by accident.
  function armAlarm() {
    const alarm = document.querySelector("dialog.term-alarm");
    if (!alarm || alarm.dataset.armed) { return; }
    alarm.dataset.armed = "1";
    if (!alarm.matches(":modal")) { alarm.close(); alarm.showModal(); }
    alarm.focus();
    alarm.addEventListener("cancel", function (event) { event.preventDefault(); });
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-acknowledge-alarm]");
    if (!button) { return; }
    const alarm = button.closest("dialog.term-alarm");
    alarm.close();
    alarm.remove();
    // Focused in the next frame: Chromium keeps the page inert for typing until the modal's
    // top layer is gone, so a field focused at once would drop the next scan's characters.
    window.requestAnimationFrame(function () {
      const field = scanField();
      if (field) { field.value = ""; field.blur(); field.focus(); }
    });
  });

  document.addEventListener("htmx:afterSettle", armAlarm);

  function pad(n) { return String(n).padStart(2, "0"); }
  function clock(seconds) {
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60);
    return (h ? h + ":" + pad(m) : String(m)) + ":" + pad(seconds % 60);
  }

  // The step's timer runs from when this terminal first opened the step: kept in the tab's
  // session storage, so a reload or a look at another screen does not restart it.
  function openedAt(timer) {
    const key = "mes-step-opened-" + timer.dataset.run;
    let opened = parseInt(window.sessionStorage.getItem(key), 10);
    if (!opened) {
      opened = Date.now();
      try { window.sessionStorage.setItem(key, String(opened)); } catch (ignored) { /* full */ }
    }
    return opened;
  }

  function tickTimer() {
    const timer = document.querySelector("[data-step-timer]");
    if (!timer) { return; }
    const elapsed = Math.max(0, Math.floor((Date.now() - openedAt(timer)) / 1000));
    timer.querySelector("[data-elapsed]").textContent = clock(elapsed);
    const expected = parseInt(timer.dataset.expectedMinutes, 10);
    timer.classList.toggle("over", expected > 0 && elapsed > expected * 60);
  }

  // The server's clock of the last activity may be up to a minute earlier than the page:
  // the countdown starts from what the server counts (data-idle-remaining), never later.
  const idle = {
    last: Date.now(),
    start: function () {
      const box = document.querySelector("[data-idle-seconds]");
      if (!box) { return; }
      const limit = parseInt(box.dataset.idleSeconds, 10);
      const left = parseInt(box.dataset.idleRemaining, 10);
      if (left >= 0 && left < limit) { idle.last = Date.now() - (limit - left) * 1000; }
    },
    reset: function () { idle.last = Date.now(); },
    tick: function () {
      const box = document.querySelector("[data-idle-seconds]");
      if (!box) { return; }
      const limit = parseInt(box.dataset.idleSeconds, 10);
      const left = Math.max(0, limit - Math.floor((Date.now() - idle.last) / 1000));
      box.hidden = left > 120;
      box.querySelector("[data-idle-left]").textContent = clock(left);
      if (left === 0) { window.location.reload(); }
    },
  };

  function start() {
    const summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
    else {
      const field = scanField();
      if (field && !document.querySelector("dialog[open]")) { field.focus(); }
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    start();
    armAlarm();
    tickTimer();
    idle.start();
    idle.tick();
    window.setInterval(function () { tickTimer(); idle.tick(); }, 1000);
  });
})();
