// The terminal's scan field and its blocking alarm (no inline scripts: CSP forbids them).
//
// A scan ends with Enter; the next scan replaces the last one instead of appending to it.
// A mix-up alarm is a modal dialog: the page behind it is inert, Escape does not close it,
// and only the acknowledge button does; then the (emptied) scan field has the focus.
(function () {
  "use strict";

  function armAlarm() {
    const alarm = document.querySelector("dialog.scan-alarm");
    if (!alarm || alarm.dataset.acknowledged) { return; }
    if (!alarm.matches(":modal")) {
      alarm.close();  // rendered `open` for the page without JavaScript
      alarm.showModal();
    }
    if (!alarm.contains(document.activeElement) || document.activeElement.matches("button")) {
      // Focus the alarm itself, not its button: a scanner's trailing Enter must not
      // acknowledge it by accident.
      alarm.focus();
    }
    if (!alarm.dataset.armed) {
      alarm.dataset.armed = "1";
      alarm.addEventListener("cancel", function (event) { event.preventDefault(); });
      alarm.addEventListener("close", function () {
        if (!alarm.dataset.acknowledged) { alarm.showModal(); alarm.focus(); }
      });
    }
  }

  function acknowledge(alarm) {
    alarm.dataset.acknowledged = "1";
    alarm.close();
    alarm.remove();
    const field = document.querySelector("#scan-form .scan-input");
    if (field) { field.value = ""; field.focus(); }
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-acknowledge-alarm]");
    if (button) { acknowledge(button.closest("dialog.scan-alarm")); }
  });

  document.addEventListener("keydown", function (event) {
    const field = event.target;
    if (!(field instanceof HTMLInputElement) || !field.classList.contains("scan-input")) {
      return;
    }
    if (event.key === "Enter") {
      field.dataset.scanned = "1";  // this scan is complete
    } else if (field.dataset.scanned && event.key.length === 1 && !event.ctrlKey
               && !event.metaKey && !event.altKey) {
      field.value = "";  // the first character of the next scan starts it afresh
      delete field.dataset.scanned;
    }
  });

  document.addEventListener("focusin", function (event) {
    const field = event.target;
    if (field instanceof HTMLInputElement && field.classList.contains("scan-input")
        && field.value) {
      field.select();  // typing or scanning replaces what is there
    }
  });

  // Chromium leaves empty style="" attributes on form fields; htmx's settle would copy them
  // onto the swapped-in fields, which our CSP (no inline styles) reports as a violation.
  document.addEventListener("htmx:beforeSwap", function () {
    document.querySelectorAll("#scan-card [style='']").forEach(function (element) {
      element.removeAttribute("style");
    });
  });

  document.addEventListener("DOMContentLoaded", armAlarm);
  document.addEventListener("htmx:afterSwap", armAlarm);
  document.addEventListener("htmx:afterSettle", armAlarm);
})();
