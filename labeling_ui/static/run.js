"use strict";
/* A task run's page: its state and, for FIND_MATCHES and FIND_INCREMENTAL_MATCHES runs, the entity changelog
   (counts per change, then the rows a page at a time). */
(function () {
  const ids = ui.ids();
  const PAGE = 100;  // changelog rows fetched at a time
  const state = { rows: [], total: 0 };
  const TYPES = { FIND_MATCHES: "Find matches", FIND_INCREMENTAL_MATCHES: "Find incremental matches" };

  function related(text) {
    const transform = ids.transformId;
    return ui.el("span", {}, (text || "").split(";").filter(Boolean).map((m, i) => [i ? "; " : "",
      ui.el("a", { href: `/transforms/${transform}/entities/${m}`, text: m })]));
  }

  async function loadPage() {
    const page = await ui.api(`/task-runs/${ids.runId}/changes?offset=${state.rows.length}&limit=${PAGE}`);
    state.total = page.total;
    if (state.rows.length === 0 && page.store_version !== null) {
      document.getElementById("run-meta").append(` · entity store version ${page.store_version}`);
    }
    if (state.rows.length === 0) {
      document.querySelector("#change-counts tbody").replaceChildren(...Object.entries(page.counts).map(([c, n]) =>
        ui.el("tr", { "data-change": c }, ui.el("td", { text: c }), ui.el("td", { class: "num", text: n }))));
    }
    state.rows.push(...page.changes);
    document.querySelector("#changes tbody").replaceChildren(...state.rows.map((r) => ui.el("tr",
      { "data-match": r.match_id },
      ui.el("td", {}, ui.el("a", { href: `/transforms/${ids.transformId}/entities/${r.match_id}`,
        text: r.match_id })),
      ui.el("td", { text: r.change }), ui.el("td", {}, related(r.related_ids)),
      ui.el("td", { class: "num", text: r.records_before }), ui.el("td", { class: "num", text: r.records_after }))));
    const more = document.getElementById("more-changes");
    more.hidden = state.rows.length >= state.total;
    more.textContent = `Show more changes (${state.rows.length} of ${state.total} listed)`;
    document.getElementById("changes-section").hidden = false;
  }

  ui.ready.then(() => ui.guard(async () => {
    const run = await ui.api(`/task-runs/${ids.runId}`);
    document.getElementById("run-type").textContent = "· " + (TYPES[run.type] || run.type);
    const batch = run.params && run.params.dataset_id ? ` · batch dataset ${run.params.dataset_id}` : "";
    document.getElementById("run-meta").textContent =
      `${run.status} · started ${ui.when(run.started_on || run.created_at)}${batch}`;
    if (!(run.type in TYPES) || run.status !== "SUCCEEDED") {
      document.getElementById("no-changes").hidden = false;
      return;
    }
    document.getElementById("more-changes").addEventListener("click", () => ui.guard(loadPage));
    await loadPage();
  }));
})();
