"use strict";
/* The Matches page: the latest SUCCEEDED FIND_MATCHES output as clusters to review and label. */
(function () {
  const id = ui.ids().transformId;
  const PAGE = 100;  // clusters fetched at a time
  const state = { pk: null, run: null, columns: [], clusters: [], total: 0, inClusters: 0, open: null, reviewed: {} };

  /** One page of clusters from the API (the run publishes them in review order): never the whole output. */
  async function loadPage() {
    const page = await ui.api(`/task-runs/${state.run.id}/clusters?offset=${state.clusters.length}&limit=${PAGE}`);
    state.total = page.total_clusters;
    state.inClusters = page.records_in_clusters;
    const warning = document.getElementById("matches-warning");
    warning.textContent = page.warning || "";
    warning.hidden = !page.warning;
    state.columns = page.columns.filter((h) => h !== "match_id" && h !== "match_confidence_score");
    if (!state.pk || !page.columns.includes(state.pk)) state.pk = page.columns[0];
    for (const c of page.clusters) {
      const records = c.records.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v ?? ""])));
      state.clusters.push({ matchId: c.match_id, records, mean: c.mean_confidence });
    }
    const more = document.getElementById("more-clusters");
    more.hidden = state.clusters.length >= state.total;
    more.textContent = `Show more clusters (${state.clusters.length} of ${state.total} listed)`;
    renderList();
  }

  function renderList() {
    const tbody = document.querySelector("#clusters tbody");
    tbody.replaceChildren(...state.clusters.map((c, i) => ui.el("tr",
      { "data-cluster": c.matchId, class: state.open === c ? "open" : null },
      ui.el("td", { class: "key-col", text: c.matchId }),
      ui.el("td", { class: "num", text: c.records.length }),
      ui.el("td", { class: "num", text: c.mean === null ? "–" : c.mean.toFixed(3) }),
      ui.el("td", { class: "reviewed", text: state.reviewed[c.matchId] || "" }),
      ui.el("td", {}, ui.el("button", { type: "button", class: "open-cluster", text: "Open",
        "aria-label": `Open cluster ${i + 1} (${c.records.length} records)`, onclick: () => openCluster(c) })))));
  }

  function majorities(records) {
    const major = {};
    for (const col of state.columns) {
      const counts = new Map();
      for (const r of records) counts.set(r[col] ?? "", (counts.get(r[col] ?? "") || 0) + 1);
      const best = Math.max(...counts.values());
      major[col] = { uniform: counts.size === 1, values: new Set([...counts].filter(([, n]) => n === best).map(([v]) => v)) };
    }
    return major;
  }

  function openCluster(c) {
    state.open = c;
    c.split = c.split || new Set();
    document.getElementById("cluster").hidden = false;
    document.getElementById("cluster-title").textContent = `Cluster ${c.matchId}: ${c.records.length} records`;
    const major = majorities(c.records);
    const shown = state.columns.filter((col) => col !== state.pk);
    const table = document.getElementById("cluster-records");
    table.replaceChildren(
      ui.el("thead", {}, ui.el("tr", {}, ui.el("th", { scope: "col", text: state.pk }),
        c.records.map((r) => ui.el("th", { scope: "col", class: "key-col" + (c.split.has(r[state.pk]) ? " split" : ""),
          "data-key": r[state.pk] }, r[state.pk], ui.el("br"),
        ui.el("button", { type: "button", class: "not-match", text: "Not a match",
          "aria-label": `Not a match: split ${r[state.pk]} from the cluster`,
          disabled: c.split.has(r[state.pk]), onclick: () => split(c, r[state.pk]) })))),
      ),
      ui.el("tbody", {}, shown.map((col) => ui.el("tr", {}, ui.el("th", { scope: "row", text: col }),
        c.records.map((r) => valueCell(r[col] ?? "", major[col]))))));
    describe(c);
    renderList();
    showPairs(c);
    document.getElementById("same-btn").focus();
  }

  /** Highlighted when it differs from the cluster's most common value; short values mark the differing characters. */
  function valueCell(value, major) {
    const differs = !major.uniform && !major.values.has(value);
    const base = major.values.size === 1 ? [...major.values][0] : null;
    const marked = differs && base ? ui.charDiff(value, base) : null;
    return ui.el("td", { class: differs ? "diff" : null, title: value }, marked || value);
  }

  /** The cluster's scored pairs (published by the FIND_MATCHES run), fetched once per cluster. */
  async function showPairs(c) {
    const table = document.getElementById("cluster-pairs"), note = document.getElementById("pairs-state");
    table.replaceChildren();
    if (!c.pairs) {
      note.textContent = "Loading pairs…";
      try {
        const path = `/task-runs/${state.run.id}/clusters/${encodeURIComponent(c.matchId)}/pairs`;
        c.pairs = (await ui.api(path)).pairs;
      } catch (exc) {
        if (state.open === c) note.textContent = "Pairs unavailable: " + exc.message;
        return;
      }
    }
    if (state.open !== c) return;  // another cluster was opened meanwhile
    note.textContent = `${c.pairs.length} scored pair${c.pairs.length === 1 ? "" : "s"}, strongest first.`;
    const columns = state.columns.filter((col) => c.pairs.some((p) => col in p.contributions));
    table.replaceChildren(
      ui.el("thead", {}, ui.el("tr", {}, ui.el("th", { scope: "col", text: "Pair" }),
        ui.el("th", { scope: "col", text: "Probability" }), columns.map((col) => ui.el("th", { scope: "col", text: col })))),
      ui.el("tbody", {}, c.pairs.map((p) => ui.el("tr", { "data-pair": `${p.key_a}|${p.key_b}` },
        ui.el("th", { scope: "row", class: "key-col", text: `${p.key_a} – ${p.key_b}` }),
        ui.el("td", { class: "num prob", text: p.probability === null ? "–" : p.probability.toFixed(3) }),
        columns.map((col) => contribution(p.contributions[col]))))));
  }

  function contribution(value) {
    if (value === null || value === undefined) return ui.el("td", { class: "num contrib zero", text: "–" });
    const sign = value > 0.005 ? "pos" : value < -0.005 ? "neg" : "zero";
    return ui.el("td", { class: `num contrib ${sign}`, "data-value": value,
      text: (value > 0 ? "+" : "") + value.toFixed(2) });
  }

  function describe(c) {
    document.getElementById("cluster-state").textContent = c.split.size
      ? `Split out: ${[...c.split].join(", ")}` : "";
  }

  /** Post the cluster's current grouping: split records each their own entity, the rest one entity. */
  async function save(c, what) {
    const base = `m${c.matchId}`;
    const keys = c.records.map((r) => r[state.pk]);
    const labels = keys.map((k) => (c.split.has(k) ? `${base}-split-${k}` : base));
    const set = await ui.api(`/transforms/${id}/labeling-sets`, { method: "POST", body: { records: keys, labels } });
    state.reviewed[c.matchId] = what;
    ui.notice(`Saved ${set.labels.length} labels for cluster ${c.matchId} (set ${set.set_id}): ${what}`);
    openCluster(c);
  }

  function split(c, key) {
    c.split.add(key);
    return ui.guard(() => save(c, c.split.size >= c.records.length - 1 ? "all different" : "split"));
  }

  async function load() {
    const t = await ui.transformName(id);
    state.pk = t.primary_key;
    const runs = (await ui.api(`/transforms/${id}/task-runs?type=FIND_MATCHES&status=SUCCEEDED&limit=1`)).task_runs;
    const meta = document.getElementById("matches-meta");
    if (!runs.length) { meta.textContent = ""; document.getElementById("no-matches").hidden = false; return; }
    const run = runs[0];
    state.run = run;
    await loadPage();
    meta.textContent = `Find matches run ${run.id} (${ui.when(run.completed_on)}): `
      + `${state.total} clusters of 2 or more holding ${state.inClusters} records.`;
    document.getElementById("clusters-section").hidden = false;
  }

  ui.ready.then(() => {
    document.getElementById("more-clusters").addEventListener("click", () => ui.guard(loadPage));
    document.getElementById("same-btn").addEventListener("click", () => {
      const c = state.open;
      if (c) ui.guard(() => save(c, c.split.size ? "same entity (after splits)" : "same entity"));
    });
    ui.guard(load);
  });
})();
