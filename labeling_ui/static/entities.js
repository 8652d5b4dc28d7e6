"use strict";
/* The entities list (search, pages) and one entity's page (its records and history): the entity store's view. */
(function () {
  const ids = ui.ids();
  const PAGE = 50;  // entities fetched at a time
  const list = { q: "", rows: [], total: 0 };

  function entityLink(matchId) {
    return ui.el("a", { href: `/transforms/${ids.transformId}/entities/${matchId}`, text: matchId });
  }

  async function loadEntities(reset) {
    if (reset) list.rows = [];
    const q = list.q ? `&q=${encodeURIComponent(list.q)}` : "";
    const page = await ui.api(`/transforms/${ids.transformId}/entities?offset=${list.rows.length}&limit=${PAGE}${q}`);
    list.total = page.total;
    list.rows.push(...page.entities);
    document.querySelector("#entities tbody").replaceChildren(...list.rows.map((e) => ui.el("tr",
      { "data-match": e.match_id }, ui.el("td", {}, entityLink(e.match_id)),
      ui.el("td", { class: "num", text: e.records }), ui.el("td", { text: e.keys.join(", ") }),
      ui.el("td", { text: Object.values(e.values).filter((v) => v !== null && v !== "").join(" · ") }))));
    document.getElementById("entities-meta").textContent =
      `${page.total} entities${list.q ? ` with “${list.q}”` : ""} · store version ${page.store_version}`;
    const more = document.getElementById("more-entities");
    more.hidden = list.rows.length >= list.total;
    more.textContent = `Show more entities (${list.rows.length} of ${list.total} listed)`;
  }

  function recordsTable(records) {
    const columns = records.length ? Object.keys(records[0]) : [];
    return [ui.el("thead", {}, ui.el("tr", {}, columns.map((c) => ui.el("th", { text: c })))),
      ui.el("tbody", {}, records.map((r) => ui.el("tr", {}, columns.map((c) => ui.el("td",
        { text: c === "match_confidence_score" ? ui.fmt(r[c]) : (r[c] ?? "") })))))];
  }

  async function loadEntity() {
    const e = await ui.api(`/transforms/${ids.transformId}/entities/${encodeURIComponent(ids.matchId)}`);
    document.getElementById("entity-id").textContent = "· " + e.match_id;
    const meta = document.getElementById("entity-meta");
    meta.replaceChildren(e.status === "MERGED" ? ["Merged into ", entityLink(e.merged_into), "."]
      : e.status === "REMOVED" ? "Removed: its records were erased or re-matched into other entities."
        : `${e.records.length} record(s).`);
    document.getElementById("entity-records").replaceChildren(...recordsTable(e.records));
    const golden = e.golden || { values: {}, sources: {} };
    document.querySelector("#entity-golden tbody").replaceChildren(...Object.keys(golden.values).map((c) =>
      ui.el("tr", {}, ui.el("th", { scope: "row", text: c }), ui.el("td", { text: golden.values[c] ?? "" }),
        ui.el("td", { class: "key-col", text: golden.sources[c] ?? "" }))));
    document.getElementById("golden-section").hidden = !e.golden;
    document.getElementById("records-section").hidden = !e.records.length;
    document.querySelector("#entity-history tbody").replaceChildren(...e.history.map((h) => ui.el("tr", {},
      ui.el("td", { class: "num", text: h.version }), ui.el("td", { text: h.change }),
      ui.el("td", {}, (h.related_ids || "").split(";").filter(Boolean).map((m, i) => [i ? "; " : "", entityLink(m)])),
      ui.el("td", { class: "num", text: h.records_before }), ui.el("td", { class: "num", text: h.records_after }))));
    document.getElementById("history-section").hidden = !e.history.length;
  }

  ui.ready.then(() => ui.guard(async () => {
    if (ids.matchId !== undefined) return loadEntity();
    await ui.transformName(ids.transformId);
    document.getElementById("entity-search").addEventListener("submit", (event) => {
      event.preventDefault();
      list.q = document.getElementById("q").value.trim();
      ui.guard(() => loadEntities(true));
    });
    document.getElementById("more-entities").addEventListener("click", () => ui.guard(() => loadEntities(false)));
    await loadEntities(true);
  }));
})();
