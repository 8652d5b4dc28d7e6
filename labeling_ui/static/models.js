/* The runs page's Models section: the transform's model versions (each Find matches run's, each import), with
 * Download for everyone, and for admins an import form and Delete on imported versions. */
"use strict";
ui.models = (function () {
  const id = ui.ids().transformId;

  function origin(m) {
    if (!m.imported) return "Find matches run" + (m.metrics && m.metrics.imported_model ? " (applied an import)" : "");
    return `Imported: ${m.filename}` + (m.imported_by ? ` by ${m.imported_by}` : "") + `, ${ui.when(m.imported_at)}`;
  }

  function effect(m) {
    if (!m.imported) return "";
    return m.in_effect ? "applies it (no labels since the import)" : "fits its own model (labeled since the import)";
  }

  function row(m) {
    const short = m.version.slice(0, 8);
    return ui.el("tr", { "data-version": m.version, "data-imported": String(m.imported),
      "data-in-effect": String(m.in_effect) },
      ui.el("td", { title: m.version, text: short }),
      ui.el("td", { class: "origin", text: origin(m) }),
      ui.el("td", { text: ui.when(m.created_at) }),
      ui.el("td", { class: "num", text: m.labels }),
      ui.el("td", { class: "effect", text: effect(m) }),
      ui.el("td", {},
        ui.el("button", { type: "button", class: "download", text: "Download", "aria-label": `Download model ${short}`,
          onclick: () => ui.guard(() => ui.download(`/transforms/${id}/models/${m.version}`, `model-${short}.zip`)) }),
        m.imported && ui.isAdmin() ? [" ", ui.deleteButton(`model ${m.filename}`, `/transforms/${id}/models/${m.version}`,
          `Delete the imported model “${m.filename}”? Find matches then fits the transform's own model ` +
          "(or applies an earlier import).", refresh)] : null));
  }

  async function refresh() {
    const body = await ui.api(`/transforms/${id}/models`);
    const tbody = document.querySelector("#models-table tbody");
    tbody.replaceChildren(...(body.models.length ? body.models.map(row)
      : [ui.el("tr", {}, ui.el("td", { colspan: 6, text: "No models yet: run Find matches, or import one." }))]));
  }

  async function importFile(form) {
    const file = document.getElementById("model-file").files[0];
    if (!file) { ui.showError("Choose a model file (.zip) to import"); return; }
    const data = new FormData();
    data.append("file", file);
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const model = await ui.api(`/transforms/${id}/models`, { method: "POST", body: data,
        headers: { "Idempotency-Key": `model-${Date.now()}-${Math.random().toString(36).slice(2)}` } });
      ui.notice(`Imported ${model.filename}: Find matches now applies it`);
      form.reset();
      await refresh();
    } finally { button.disabled = false; }
  }

  ui.ready.then(() => {
    document.getElementById("model-import").addEventListener("submit", (e) => {
      e.preventDefault(); ui.guard(() => importFile(e.target));
    });
    ui.guard(refresh);
  });
  // called by runs.js when a run ends; an error here must not clear the page's other messages
  return { refresh: () => refresh().catch((exc) => ui.showError("Loading the models failed: " + exc.message)) };
})();
