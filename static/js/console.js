// Kiro console: the little JavaScript the pages use. Everything works without it.

// Styles may hide what only matters without JavaScript (e.g. Save buttons of switches that save themselves).
document.documentElement.classList.replace("no-js", "js");

// Filter forms: leave empty fields out of htmx GET requests, so the pushed URL stays short and shareable
// (/audit/?q=payroll rather than /audit/?q=payroll&action=&source=&...).
document.addEventListener("htmx:configRequest", (event) => {
  if (event.detail.verb !== "get" || !event.detail.elt.matches("form.filters")) return;
  const params = event.detail.parameters;
  for (const key of Array.from(params.keys ? params.keys() : Object.keys(params))) {
    const value = params.get ? params.get(key) : params[key];
    if (value === "" || value === null) {
      if (params.delete) params.delete(key);
      else delete params[key];
    }
  }
});

// Dialogs: a link with data-opens-dialog="ID" loads its content with htmx, then the dialog opens. Anything with
// data-closes-dialog closes it (Esc too, natively).
document.addEventListener("htmx:afterSwap", (event) => {
  const trigger = event.detail.requestConfig && event.detail.requestConfig.elt;
  const id = trigger && trigger.dataset ? trigger.dataset.opensDialog : null;
  if (!id) return;
  const dialog = document.getElementById(id);
  if (dialog && !dialog.open) {
    dialog.showModal();
    const first = dialog.querySelector("input:not([type=hidden]), select, textarea");
    if (first) first.focus();
  }
});
document.addEventListener("click", (event) => {
  const closer = event.target.closest("[data-closes-dialog]");
  if (!closer) return;
  const dialog = closer.closest("dialog");
  if (dialog) {
    event.preventDefault();
    dialog.close();
  }
});
