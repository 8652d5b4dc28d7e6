"use strict";
/* The labeling workspace: one set at a time, keyboard first, the draft autosaved in localStorage. */
(function () {
  const id = ui.ids().transformId;
  const GROUP_KEYS = "123456789abcdefghilmopqrtvwxyz".split("");  // no n/u/s/j/k: those are commands
  const SKIP_KEY = `matcher.skipped.${id}`;
  const draftKey = (setId) => `matcher.draft.${id}.${setId}`;
  const state = { transform: null, sets: [], set: null, columns: [], labels: {}, focus: 0, undo: [], busy: false };

  const skipped = () => JSON.parse(sessionStorage.getItem(SKIP_KEY) || "[]");
  const addSkipped = (setId) => sessionStorage.setItem(SKIP_KEY, JSON.stringify([...new Set([...skipped(), setId])]));

  function hue(label) {
    const i = GROUP_KEYS.indexOf(label);
    let h = i >= 0 ? i * 137.5 : [...label].reduce((a, c) => a * 31 + c.charCodeAt(0), 7);
    return Math.round(h % 360);
  }

  function saveDraft() {
    localStorage.setItem(draftKey(state.set.set_id), JSON.stringify({ labels: state.labels, focus: state.focus }));
  }

  function changeLabels(next) {
    state.undo.push({ labels: Object.assign({}, state.labels), focus: state.focus });
    state.labels = next; saveDraft(); render();
  }

  function progressText() {
    const done = state.sets.filter((s) => s.labeled > 0).length;
    const waiting = state.sets.length - done;
    document.getElementById("set-progress").textContent = `${done} sets done / ${waiting} waiting`;
  }

  function reasonText(reason) {
    if (!reason || !Object.keys(reason).length) return "Why this set: no reason recorded (a set known from imported labels).";
    const parts = [];
    if (reason.seed_pair_probability !== undefined) {
      const p = reason.seed_pair_probability;
      parts.push(`its seed pair has match probability ${ui.fmt(p, 2)}`
        + (p >= 0.2 && p <= 0.8 ? " (the model is unsure)" : p > 0.8 ? " (a likely match)" : " (a likely non-match)"));
    }
    if (reason.uncertain_pairs !== undefined) parts.push(`${reason.uncertain_pairs} of ${reason.scored_pairs} scored pairs are uncertain`);
    if (reason.likely_matches !== undefined) parts.push(`${reason.likely_matches} look like matches`);
    const known = ["seed_pair_probability", "uncertain_pairs", "scored_pairs", "likely_matches", "records", "pair_probabilities"];
    for (const [k, v] of Object.entries(reason)) if (!known.includes(k)) parts.push(`${k.replace(/_/g, " ")}: ${JSON.stringify(v)}`);
    return "Why this set: " + parts.join("; ") + ".";
  }

  /** Per column, the most common value; a cell differing from it is highlighted. */
  function majorities(records) {
    const out = {};
    for (const c of state.columns) {
      const counts = new Map();
      for (const r of records) { const v = norm(r[c]); counts.set(v, (counts.get(v) || 0) + 1); }
      let best = null, n = 0, tie = false;
      for (const [v, k] of counts) { if (k > n) { best = v; n = k; tie = false; } else if (k === n) tie = true; }
      out[c] = { value: best, uniform: counts.size === 1, tie: tie && n === 1 };
    }
    return out;
  }
  const norm = (v) => (v === null || v === undefined ? "" : String(v).trim().toLowerCase());

  /** A value; highlighted when it differs from the set's most common one, with the differing characters marked
   *  when both are short (a whole long text highlighted reads better than scattered marks). */
  function cell(column, raw, major, isKey) {
    const v = raw === null || raw === undefined ? "" : String(raw).trim();
    const differs = !isKey && !major.uniform && (major.tie || norm(v) !== major.value);
    const marked = differs && !major.tie ? ui.charDiff(v, major.value) : null;
    return ui.el("td", { class: [isKey ? "key-col" : "", differs ? "diff" : ""].join(" ").trim() || null,
      title: v, "data-col": column }, marked || v);
  }

  function render() {
    const set = state.set, table = document.getElementById("records");
    const keys = set.record_keys, pk = state.transform.primary_key;
    const major = majorities(set.records);
    const head = ui.el("thead", {}, ui.el("tr", {},
      ui.el("th", { scope: "col", class: "group-col", text: "Group" }),
      state.columns.map((c) => ui.el("th", { scope: "col", class: c === pk ? "key-col" : null, text: c }))));
    const body = ui.el("tbody", {}, set.records.map((rec, i) => {
      const label = state.labels[keys[i]] || "";
      const row = ui.el("tr", { "data-key": keys[i], "data-index": i, class: i === state.focus ? "focused" : null,
        "aria-selected": i === state.focus ? "true" : "false",
        onclick: () => { state.focus = i; saveDraft(); render(); } },
        ui.el("th", { scope: "row", class: "group-col" }, label
          ? ui.el("span", { class: "group", style: `--h:${hue(label)}`, text: label })
          : ui.el("span", { class: "group none", text: "·" })),
        state.columns.map((c) => cell(c, rec[c], major[c], c === pk)));
      if (label) row.style.setProperty("--h", hue(label));
      return row;
    }));
    table.replaceChildren(head, body);
    const labeled = keys.filter((k) => state.labels[k]).length;
    const groups = new Set(keys.map((k) => state.labels[k]).filter(Boolean)).size;
    document.getElementById("set-title").textContent =
      `Set ${set.set_id}: ${keys.length} records · ${labeled} labeled in ${groups} group${groups === 1 ? "" : "s"}`;
    document.getElementById("undo-btn").disabled = !state.undo.length;
    const focused = body.children[state.focus];
    if (focused) focused.scrollIntoView({ block: "nearest" });
  }

  async function loadSets() {
    state.sets = (await ui.api(`/transforms/${id}/labeling-sets`)).labeling_sets;
    progressText();
  }

  function nextSetId(after) {
    const wanted = new URLSearchParams(location.search).get("set");
    if (wanted && !after) return wanted;
    const skip = skipped();
    const waiting = state.sets.filter((s) => s.labeled === 0 && s.set_id !== after);
    const fresh = waiting.find((s) => !skip.includes(s.set_id));
    if (fresh) return fresh.set_id;
    if (waiting.length) { sessionStorage.removeItem(SKIP_KEY); return waiting[0].set_id; }  // went round: start over
    return null;
  }

  async function openSet(setId) {
    const empty = document.getElementById("empty"), ws = document.getElementById("workspace");
    if (!setId) {
      state.set = null; empty.hidden = false; ws.hidden = true;
      document.getElementById("set-title").textContent = ""; document.getElementById("reason").textContent = "";
      return;
    }
    const set = await ui.api(`/transforms/${id}/labeling-sets/${encodeURIComponent(setId)}`);
    empty.hidden = true; ws.hidden = false;
    state.set = set; state.undo = [];
    const pk = state.transform.primary_key, seen = new Set([pk]);
    state.columns = [pk];
    for (const r of set.records) for (const c of Object.keys(r)) if (!seen.has(c)) { seen.add(c); state.columns.push(c); }
    const draft = JSON.parse(localStorage.getItem(draftKey(set.set_id)) || "null");
    if (draft) {
      state.labels = draft.labels || {}; state.focus = Math.min(draft.focus || 0, set.records.length - 1);
      ui.notice("Restored your unsaved draft of this set.");
    } else {
      state.labels = {}; state.focus = 0;
      for (const l of set.labels) state.labels[l.record_key] = l.label;
      ui.notice(null);
    }
    document.getElementById("reason").textContent = reasonText(set.reason);
    const url = new URL(location.href); url.searchParams.set("set", set.set_id);
    history.replaceState(null, "", url);
    render();
    document.getElementById("workspace").focus({ preventScroll: true });
  }

  async function save() {
    if (!state.set || state.busy) return;
    const keys = state.set.record_keys, missing = keys.filter((k) => !state.labels[k]);
    if (missing.length) {
      ui.showError(`${missing.length} record${missing.length === 1 ? " has" : "s have"} no group yet: `
        + "press a digit or letter on each, or n to mark all different.");
      state.focus = keys.indexOf(missing[0]); render(); return;
    }
    state.busy = true;
    try {
      await ui.guard(async () => {
        const labels = keys.map((k) => ({ record_key: k, label: state.labels[k] }));
        const setId = state.set.set_id;
        await ui.api(`/transforms/${id}/labeling-sets/${encodeURIComponent(setId)}`, { method: "PUT", body: { labels } });
        localStorage.removeItem(draftKey(setId));
        await loadSets();
        await openSet(nextSetId(setId));
        ui.notice(`Saved set ${setId}.`);
      });
    } finally { state.busy = false; }
  }

  async function skip() {
    if (!state.set) return;
    addSkipped(state.set.set_id);
    await ui.guard(() => openSet(nextSetId(state.set.set_id)));
  }

  function onKey(e) {
    if (!state.set || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) return;
    // Enter activates a focused button, link or summary (the keyboard help); anywhere else it saves the set
    const native = t && t.closest && t.closest("button, a[href], summary");
    const n = state.set.records.length, key = e.key;
    const move = (d) => { state.focus = Math.max(0, Math.min(n - 1, state.focus + d)); saveDraft(); render(); };
    if (key === "ArrowDown" || key === "j") move(1);
    else if (key === "ArrowUp" || key === "k") move(-1);
    else if (key === "Enter") { if (native) return; save(); }
    else if (key === "u") undo();
    else if (key === "s") skip();
    else if (key === "n") allDifferent();
    else if (key.length === 1 && GROUP_KEYS.includes(key.toLowerCase())) {
      const next = Object.assign({}, state.labels); next[state.set.record_keys[state.focus]] = key.toLowerCase();
      changeLabels(next);
    } else return;
    e.preventDefault();
  }

  function allDifferent() {
    const next = {};
    state.set.record_keys.forEach((k, i) => { next[k] = i < GROUP_KEYS.length ? GROUP_KEYS[i] : `g${i + 1}`; });
    changeLabels(next);
  }

  function undo() {
    const prev = state.undo.pop();
    if (!prev) return;
    state.labels = prev.labels; state.focus = prev.focus; saveDraft(); render();
  }

  ui.ready.then(() => ui.guard(async () => {
    state.transform = await ui.transformName(id);
    document.addEventListener("keydown", onKey);
    document.getElementById("save-btn").addEventListener("click", save);
    document.getElementById("skip-btn").addEventListener("click", skip);
    document.getElementById("undo-btn").addEventListener("click", () => { undo(); });
    document.getElementById("diff-btn").addEventListener("click", () => { if (state.set) allDifferent(); });
    await loadSets();
    await openSet(nextSetId(null));
  }));
})();
