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

// A change made in a dialog (the server answers with the HX-Trigger event "kiro:changed" and swaps its message into
// #messages): close the dialog and reload the page's table in place, keeping its filters, sort and page (the URL).
// A page without a table reloads.
document.addEventListener("kiro:changed", () => {
  document.querySelectorAll("dialog[open]").forEach((dialog) => dialog.close());
  const regions = document.querySelectorAll(".table-region[id]");
  if (!regions.length) {
    window.location.reload();
    return;
  }
  regions.forEach((region) => {
    htmx.ajax("GET", window.location.href, { target: "#" + region.id, swap: "outerHTML" });
  });
});

// Tables with a checkbox per row: the header's box (data-select-all="NAME") ticks or clears the page's boxes named
// NAME, and [data-selected-count="NAME"] says how many are ticked.
function updateSelectedCounts() {
  document.querySelectorAll("[data-selected-count]").forEach((counter) => {
    const name = counter.dataset.selectedCount;
    const boxes = document.querySelectorAll(`input[type=checkbox][name="${name}"]`);
    const ticked = Array.from(boxes).filter((box) => box.checked).length;
    if (!counter.dataset.idleText) counter.dataset.idleText = counter.textContent;
    counter.textContent = ticked ? `${ticked} selected` : counter.dataset.idleText;
    document.querySelectorAll(`[data-select-all="${name}"]`).forEach((all) => {
      all.checked = boxes.length > 0 && ticked === boxes.length;
      all.indeterminate = ticked > 0 && ticked < boxes.length;
    });
  });
}
document.addEventListener("change", (event) => {
  const all = event.target.closest("[data-select-all]");
  if (all) {
    const name = all.dataset.selectAll;
    document.querySelectorAll(`input[type=checkbox][name="${name}"]`).forEach((box) => {
      box.checked = all.checked;
    });
  }
  if (event.target.matches("input[type=checkbox]")) updateSelectedCounts();
});
document.addEventListener("htmx:afterSettle", updateSelectedCounts);
