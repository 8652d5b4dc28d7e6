"use strict";
(function () {
  const id = ui.ids().transformId;
  const TABLE = document.getElementById("runs-table").dataset;
  const ACTIVE = JSON.parse(TABLE.activeStatuses);  // storage.run_status
  const LABELS = JSON.parse(TABLE.typeLabels);  // services.run_types
  const CHANGELOG = ["FIND_MATCHES", "FIND_INCREMENTAL_MATCHES"];  // runs that publish an entity changelog
  let timer = null;

  function elapsed(run) {
    if (run.execution_seconds !== null && run.execution_seconds !== undefined && !ACTIVE.includes(run.status)) {
      return ui.duration(run.execution_seconds);
    }
    const start = run.started_on || run.created_at;
    if (!start) return "–";
    const end = run.completed_on ? new Date(run.completed_on) : new Date();
    return ui.duration((end - new Date(start)) / 1000);
  }

  function download(run, format) {
    return ui.download(`/task-runs/${run.id}/output${format ? "?format=" + format : ""}`, `${run.id}.out`);
  }

  function row(run) {
    const pct = Math.round(100 * (run.progress || 0));
    const active = ACTIVE.includes(run.status);
    const output = run.has_output
      ? ui.el("span", {},
        ui.el("a", { href: `${API}/task-runs/${run.id}/output`, class: "download-link", "data-run": run.id,
          "data-focus": "download",
          onclick: (e) => { e.preventDefault(); ui.guard(() => download(run)); }, text: "Download" }),
        run.type === "LABELING_SET_GENERATION"
          ? [" · ", ui.el("a", { href: `/transforms/${id}/label`, class: "label-link", "data-focus": "label",
            text: "Label these sets" })] : null,
        run.type === "EVALUATION" ? [" · ", ui.el("a", { href: `/transforms/${id}/quality`, class: "quality-link",
          "data-focus": "quality", text: "Quality" })] : null,
        run.type === "FIND_MATCHES" ? [" · ", ui.el("a", { href: `/transforms/${id}/matches`, class: "matches-link",
          "data-focus": "matches", text: "Review matches" })] : null,
        CHANGELOG.includes(run.type) ? [" · ", ui.el("a", { href: `/transforms/${id}/runs/${run.id}`,
          class: "changes-link", "data-focus": "changes", text: "Entity changes" })] : null)
      : "";
    return ui.el("tr", { "data-run": run.id, "data-type": run.type, "data-status": run.status },
      ui.el("td", { text: LABELS[run.type] || run.type }),
      ui.el("td", {}, ui.el("span", { class: "status " + run.status, text: run.status })),
      ui.el("td", { text: run.stage || "" }),
      ui.el("td", {}, ui.el("div", { class: "progress", title: pct + "%" },
        ui.el("div", { class: "bar" + (run.status === "FAILED" ? " failed" : ""), role: "progressbar",
          "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": pct, "aria-label": `${run.type} progress`,
          style: `width:${pct}%` }), ui.el("span", { class: "pct", text: pct + "%" }))),
      ui.el("td", { class: "num", text: elapsed(run) }),
      ui.el("td", { class: "err", text: run.error_message || "" }),
      ui.el("td", {}, output),
      ui.el("td", {}, active && ui.isAdmin() ? ui.el("button", { type: "button", class: "cancel", "data-focus": "cancel",
        text: "Cancel", "aria-label": `Cancel ${LABELS[run.type] || run.type} run`,
        onclick: () => ui.guard(async () => {
          await ui.api(`/task-runs/${run.id}/cancel`, { method: "POST" }); await refresh();
        }) }) : ""));
  }

  let lastError = null, lastBody = null, lastEnded = null;
  async function refresh() {
    try {
      const body = await ui.api(`/transforms/${id}/task-runs?limit=50`);
      const text = JSON.stringify(body);
      // redraw only what changed (or ticks: elapsed time of active runs), so Tab never loses its place for nothing
      if (text === lastBody && !body.task_runs.some((r) => ACTIVE.includes(r.status))) return clearError();
      lastBody = text;
      const ended = body.task_runs.filter((r) => !ACTIVE.includes(r.status)).map((r) => r.id + r.status).join();
      if (ended !== lastEnded) {  // a run ended: the next step moved, a Find matches run added a model version
        lastEnded = ended; ui.steps.refresh(); ui.models.refresh();
      }
      const tbody = document.querySelector("#runs-table tbody");
      const focused = document.activeElement && document.activeElement.closest("tr[data-run] [data-focus]");
      const focusKey = focused ? [focused.closest("tr").dataset.run, focused.dataset.focus] : null;
      tbody.replaceChildren(...(body.task_runs.length ? body.task_runs.map(row)
        : [ui.el("tr", {}, ui.el("td", { colspan: 8, text: "No task runs yet: start one above." }))]));
      if (focusKey) {  // keep keyboard focus across the redraw
        const again = tbody.querySelector(`tr[data-run="${focusKey[0]}"] [data-focus="${focusKey[1]}"]`);
        if (again) again.focus();
      }
      clearError();
    } catch (exc) { lastError = exc.message; ui.showError("Refreshing task runs failed: " + exc.message); }
  }

  function clearError() {
    if (lastError) { ui.showError(null); lastError = null; }
  }

  async function listBatches() {
    const select = document.getElementById("batch");
    const { datasets } = await ui.api("/datasets");
    select.append(...datasets.map((d) => ui.el("option", { value: d.id, text: `${d.name} (${d.row_count} rows)` })));
    document.getElementById("incremental").addEventListener("submit", (event) => {
      event.preventDefault();
      if (select.value) start("FIND_INCREMENTAL_MATCHES", { dataset_id: select.value });
      else ui.showError("Choose the uploaded dataset to match (upload it on the Datasets page).");
    });
  }

  function start(type, params) {
    return ui.guard(async () => {
      const run = await ui.api(`/transforms/${id}/task-runs`, { method: "POST", body: { type, params },
        headers: { "Idempotency-Key": `${type}-${Date.now()}-${Math.random().toString(36).slice(2)}` } });
      ui.notice(`Started ${LABELS[type] || type} (${run.id})`);
      await refresh();
    });
  }

  ui.ready.then(async () => {
    await ui.guard(() => ui.transformName(id));
    document.querySelectorAll("button.start").forEach((b) => b.addEventListener("click", () => start(b.dataset.type)));
    if (ui.isAdmin()) await ui.guard(listBatches);
    await refresh();
    timer = setInterval(refresh, 1000);
  });
  window.addEventListener("beforeunload", () => clearInterval(timer));
})();
