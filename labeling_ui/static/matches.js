"use strict";
/* The Matches page: the latest SUCCEEDED FIND_MATCHES output as clusters to review and label. */
(function () {
  const id = ui.ids().transformId;
  const SHOWN = 500;  // clusters listed at most
  const state = { pk: null, run: null, columns: [], clusters: [], open: null, reviewed: {} };

  /** RFC 4180 CSV (quoted fields, doubled quotes, CRLF) -> array of rows of strings. */
  function parseCsv(text) {
    const rows = []; let row = [], field = "", quoted = false;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (quoted) {
        if (ch === '"') { if (text[i + 1] === '"') { field += '"'; i++; } else quoted = false; }
        else field += ch;
      } else if (ch === '"') quoted = true;
      else if (ch === ",") { row.push(field); field = ""; }
      else if (ch === "\n" || ch === "\r") {
        if (ch === "\r" && text[i + 1] === "\n") i++;
        row.push(field); rows.push(row); row = []; field = "";
      } else field += ch;
    }
    if (field !== "" || row.length) { row.push(field); rows.push(row); }
    return rows.filter((r) => r.length > 1 || r[0] !== "");
  }

  async function outputText(runId) {
    const response = await fetch(`${API}/task-runs/${runId}/output?format=csv`,
      { headers: { Authorization: "Bearer " + ui.token() } });
    if (!response.ok) {
      let problem = null; try { problem = await response.json(); } catch (_) { /* not JSON */ }
      throw new Error(ui.describe(problem, response.status));
    }
    return response.text();
  }

  /** Records sharing a match_id (size > 1), largest first, then the least confident (mean score ascending). */
  function clustersOf(records) {
    const by = new Map();
    for (const r of records) {
      const m = r.match_id;
      if (m === undefined || m === "") continue;
      if (!by.has(m)) by.set(m, []);
      by.get(m).push(r);
    }
    const out = [];
    for (const [matchId, members] of by) {
      if (members.length < 2) continue;
      const scores = members.map((r) => parseFloat(r.match_confidence_score)).filter((x) => !isNaN(x));
      const mean = scores.length ? scores.reduce((a, b) => a + b, 0) / scores.length : null;
      out.push({ matchId, records: members, mean });
    }
    const m = (c) => (c.mean === null ? Infinity : c.mean);
    return out.sort((a, b) => b.records.length - a.records.length || m(a) - m(b)
      || String(a.matchId).localeCompare(String(b.matchId)));
  }

  function renderList() {
    const tbody = document.querySelector("#clusters tbody");
    tbody.replaceChildren(...state.clusters.slice(0, SHOWN).map((c, i) => ui.el("tr",
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
    const rows = parseCsv(await outputText(run.id));
    const header = rows.shift() || [];
    const records = rows.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] ?? ""])));
    state.columns = header.filter((h) => h !== "match_id" && h !== "match_confidence_score");
    if (!state.pk || !header.includes(state.pk)) state.pk = header[0];
    state.clusters = clustersOf(records);
    const inClusters = state.clusters.reduce((n, c) => n + c.records.length, 0);
    meta.textContent = `Find matches run ${run.id} (${ui.when(run.completed_on)}): ${records.length} records, `
      + `${state.clusters.length} clusters of 2 or more holding ${inClusters} records`
      + (state.clusters.length > SHOWN ? ` (the first ${SHOWN} listed)` : "") + ".";
    document.getElementById("clusters-section").hidden = false;
    renderList();
  }

  ui.ready.then(() => {
    document.getElementById("same-btn").addEventListener("click", () => {
      const c = state.open;
      if (c) ui.guard(() => save(c, c.split.size ? "same entity (after splits)" : "same entity"));
    });
    ui.guard(load);
  });
})();
