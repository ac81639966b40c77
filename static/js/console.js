// Kiro console: the little JavaScript the pages use. Everything works without it.

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
