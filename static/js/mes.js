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
