// Small behaviours the pages share; no inline scripts (CSP forbids them).
document.addEventListener("click", function (event) {
  const closer = event.target.closest("[data-close-dialog]");
  if (closer) {
    const dialog = closer.closest("dialog");
    if (dialog) { dialog.close(); dialog.remove(); }
  }
});
document.addEventListener("htmx:afterSwap", function (event) {
  const dialog = event.detail.target.querySelector("dialog.sign-dialog");
  // The template carries `open` for the no-JavaScript page; reopen it as a modal here.
  if (dialog && !dialog.matches(":modal")) { dialog.close(); dialog.showModal(); }
  const password = event.detail.target.querySelector("dialog input[type=password]");
  if (password) { password.focus(); }
});
// The top bar's groups are <details> menus: one open at a time; Escape or a click elsewhere
// closes them (keyboard and touch work without hover).
document.addEventListener("toggle", function (event) {
  const opened = event.target;
  if (!opened.matches || !opened.matches("details.nav-group") || !opened.open) { return; }
  document.querySelectorAll("details.nav-group[open]").forEach(function (other) {
    if (other !== opened) { other.open = false; }
  });
}, true);
document.addEventListener("click", function (event) {
  if (event.target.closest("details.nav-group")) { return; }
  document.querySelectorAll("details.nav-group[open]").forEach(function (menu) {
    menu.open = false;
  });
});
document.addEventListener("keydown", function (event) {
  if (event.key !== "Escape") { return; }
  const menu = event.target.closest && event.target.closest("details.nav-group[open]");
  if (menu) { menu.open = false; menu.querySelector("summary").focus(); }
});
// A print button (CSP forbids inline handlers).
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) { window.print(); }
});
