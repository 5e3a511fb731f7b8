// The batch overview's live refresh (no inline scripts: CSP forbids them). Each poll sends the
// digest of the copy on the page; the server answers 204 when nothing changed, and htmx then
// swaps nothing, so the reader's focus, selection and scroll position stay.
(function () {
  "use strict";

  document.addEventListener("htmx:configRequest", function (event) {
    const box = event.detail.elt;
    if (box && box.id === "batch-overview" && box.dataset.digest) {
      event.detail.headers["X-Overview-Digest"] = box.dataset.digest;
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    const box = event.detail.elt;
    if (!box || box.id !== "batch-overview") { return; }
    const digest = event.detail.xhr.getResponseHeader("X-Overview-Digest");
    if (digest) { box.dataset.digest = digest; }
  });
})();
