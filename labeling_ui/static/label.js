"use strict";
/* The labeling workspace: one set at a time, keyboard first, the draft autosaved in localStorage. Sets come from
   the list of sets waiting, or from the caller's queue ("Next set for me": sets that still need this labeler's
   answer, gold sets mixed in), which is the default when the policy wants several answers per set or gold sets.
   Reviewers' and admins' panel (answers side by side, review, gold): label_team.js. */
(function () {
  const id = ui.ids().transformId;
  const GROUP_KEYS = "123456789abcdefghilmopqrtvwxyz".split("");  // no n/u/s/j/k: those are commands
  // a records cell shows about 30 characters (max-width 260px); a longer value that differs from the focused
  // record keeps CONTEXT characters either side of each difference and elides the rest in the middle
  const FIT = 30, CONTEXT = 8;
  const SKIP_KEY = `matcher.skipped.${id}`;
  const draftKey = (setId) => `matcher.draft.${id}.${setId}`;
  const state = { transform: null, sets: [], set: null, columns: [], labels: {}, machineLabels: {}, focus: 0, undo: [], busy: false,
    order: [], suggested: {}, missingShown: false, fromQueue: false };  // focus: a position in `order` (the rows as shown)

  const skipped = () => JSON.parse(sessionStorage.getItem(SKIP_KEY) || "[]");
  const addSkipped = (setId) => sessionStorage.setItem(SKIP_KEY, JSON.stringify([...new Set([...skipped(), setId])]));

  function hue(label) {
    const i = GROUP_KEYS.indexOf(label);
    let h = i >= 0 ? i * 137.5 : [...label].reduce((a, c) => a * 31 + c.charCodeAt(0), 7);
    return Math.round(h % 360);
  }

  /** Labels as the workspace shows them: the group keys themselves, or, when some label is anything else (the
   *  consolidation names a group by one of its record keys, an import by its own names), 1, 2, 3... in the order
   *  shown: only who is grouped with whom matters, and a group chip holds two characters. */
  function shortLabels(labels, keys) {
    if (keys.every((k) => !labels[k] || GROUP_KEYS.includes(labels[k]))) return Object.assign({}, labels);
    const names = new Map(), out = {};
    for (const k of keys.filter((key) => labels[key])) {
      if (!names.has(labels[k])) names.set(labels[k], GROUP_KEYS[names.size] || `g${names.size + 1}`);
      out[k] = names.get(labels[k]);
    }
    return out;
  }

  function saveDraft() {
    localStorage.setItem(draftKey(state.set.set_id), JSON.stringify({ labels: state.labels, focus: state.focus }));
  }

  function changeLabels(next, focus = state.focus) {
    state.undo.push({ labels: Object.assign({}, state.labels), focus: state.focus });
    state.labels = next; state.focus = focus; saveDraft(); render();
  }

  /** Rows in the order of the model's suggested groups (the records it takes for one entity side by side), each
   *  group in the set's order; the set's own order when the set has no suggestion. `suggested` maps a record key
   *  to [group number, size of its group, position in it]. */
  function displayOrder(set) {
    const index = new Map(set.record_keys.map((k, i) => [k, i])), order = [], suggested = {};
    const groups = (set.suggested_groups || []).map((g) => g.filter((k) => index.has(k)));
    groups.forEach((g, gi) => g.forEach((k, at) => {
      if (k in suggested) return;
      order.push(index.get(k)); suggested[k] = [gi, g.length, at];
    }));
    set.record_keys.forEach((k, i) => {
      if (!(k in suggested)) { order.push(i); suggested[k] = [groups.length + i, 1, 0]; }
    });
    return { order, suggested };
  }
  const keyAt = (position) => state.set.record_keys[state.order[position]];

  function progressText() {
    const done = state.sets.filter((s) => s.labeled > 0).length;
    const waiting = state.sets.length - done;
    document.getElementById("set-progress").textContent = `${done} sets done / ${waiting} waiting`;
  }

  /** "answers 1 of 3 · you answered": how far the set is from done, and whether this caller's answer is in (when
   *  the policy wants several answers per set). */
  function answersText(set) {
    const wanted = set.answers_wanted || 1, count = set.answer_count || 0;
    if (wanted === 1) return "";  // one labeler per set: the set's labels are the answer, nothing to count
    return `answers ${count} of ${wanted} · ` + (set.answered_by_me ? "you answered" : "not answered by you yet");
  }

  /** A blind set hides the model from labelers (against anchoring); deciders see it but are told labelers do not. */
  function blindText(set) {
    if (set.blind) return "Shown blind: the model's reasons, probabilities and suggested groups are withheld so they "
      + "do not sway your answer; the records are in the set's order.";
    const policy = state.transform.labeling_policy;
    return policy && policy.blind && set.answers !== null && set.answers !== undefined
      ? "Labelers see this set blind (the labeling policy); you see the model's view as a reviewer." : "";
  }

  /** A set the machine completes (auto_label_mode "complete"): the records it labels itself are not shown to
   * labelers, so say they exist; deciders see them once the set is decided, marked "machine". */
  function machineText(set) {
    const n = set.machine_records || 0;
    if (!n) return "";
    const what = `The model is sure of ${n} more record${n === 1 ? "" : "s"} of this set: the machine labels `
      + `${n === 1 ? "it" : "them"} when the set's answer is saved`;
    return set.answers === null || set.answers === undefined ? `${what}, so you see only the others.`
      : `${what} (rows marked “machine” once it is decided).`;
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

  const norm = (v) => (v === null || v === undefined ? "" : String(v).trim().toLowerCase());
  const text = (v) => (v === null || v === undefined ? "" : String(v).trim());

  /** Too long to fit: each plain run keeps CONTEXT characters next to a mark, the rest becomes "…", so the cut
   *  never falls on a difference (an end ellipsis hid e-mails differing after the 30th character). */
  function elide(parts) {
    const length = parts.reduce((n, p) => n + [...(typeof p === "string" ? p : p.textContent)].length, 0);
    const marks = parts.map((p) => typeof p !== "string");
    const first = marks.indexOf(true), last = marks.lastIndexOf(true);
    if (length <= FIT || first < 0) return { parts, elided: false };
    return { elided: true, parts: parts.map((p, i) => {
      if (typeof p !== "string") return p;
      const c = [...p], keep = (a, b) => c.slice(a, b).join("");
      if (i < first) return c.length > CONTEXT + 1 ? "…" + keep(-CONTEXT) : p;
      if (i > last) return c.length > CONTEXT + 1 ? keep(0, CONTEXT) + "…" : p;
      return c.length > 2 * CONTEXT + 1 ? keep(0, CONTEXT) + "…" + keep(-CONTEXT) : p;
    }) };
  }

  /** A value; highlighted when it differs from the focused record's, with the differing characters marked when
   *  the two are mostly alike (a value with nothing in common reads better highlighted whole). */
  function cell(column, raw, baseRaw, isKey, isFocus) {
    const v = text(raw), base = text(baseRaw);
    const differs = !isKey && !isFocus && norm(v) !== norm(base);
    const title = `differs from the focused record's “${base}”`;
    const marked = differs && v && base ? ui.charDiff(v, base, title) || ui.edgeDiff(v, base, title) : null;
    const shown = marked ? elide(marked) : { parts: v, elided: false };
    return ui.el("td", { class: [isKey ? "key-col" : "", differs ? "diff" : "", shown.elided ? "elided" : ""]
      .join(" ").trim() || null, title: v, "data-col": column }, shown.parts);
  }

  function render() {
    const set = state.set, table = document.getElementById("records");
    const keys = set.record_keys, pk = state.transform.primary_key;
    const base = set.records[state.order[state.focus]] || {};
    const head = ui.el("thead", {}, ui.el("tr", {},
      ui.el("th", { scope: "col", class: "group-col", text: "Group" }),
      state.columns.map((c) => ui.el("th", { scope: "col", class: c === pk ? "key-col" : null, text: c }))));
    const body = ui.el("tbody", {}, state.order.map((r, i) => {
      const rec = set.records[r], key = keys[r], label = state.labels[key] || "";
      const [group, size, at] = state.suggested[key];
      const classes = [i === state.focus ? "focused" : "", size > 1 ? "suggested" : "",
        size > 1 && at === 0 ? "suggested-first" : "", size > 1 && at === size - 1 ? "suggested-last" : ""];
      const byMachine = label !== "" && state.machineLabels[key] === label;  // the machine's label, unchanged
      if (byMachine) classes.push("by-machine");
      const row = ui.el("tr", { "data-key": key, "data-index": r, "data-suggested": group,
        class: classes.filter(Boolean).join(" ") || null, "aria-selected": i === state.focus ? "true" : "false",
        title: size > 1 ? `the model takes these ${size} records for one entity` : null,
        onclick: () => { state.focus = i; saveDraft(); render(); } },
        ui.el("th", { scope: "row", class: "group-col" }, label
          ? ui.el("span", { class: "group", style: `--h:${hue(label)}`, text: label })
          : ui.el("span", { class: "group none", text: "·" }),
          byMachine ? ui.el("span", { class: "machine-mark", title: "labeled by the machine", text: "machine" }) : null),
        state.columns.map((c) => cell(c, rec[c], base[c], c === pk, i === state.focus)));
      if (label) row.style.setProperty("--h", hue(label));
      return row;
    }));
    table.replaceChildren(head, body);
    const labeled = keys.filter((k) => state.labels[k]).length;
    const groups = new Set(keys.map((k) => state.labels[k]).filter(Boolean)).size;
    document.getElementById("set-title").textContent =
      `Set ${set.set_id}: ${keys.length} records · ${labeled} labeled in ${groups} group${groups === 1 ? "" : "s"}`;
    document.getElementById("undo-btn").disabled = !state.undo.length;
    if (state.missingShown) showMissing(keys.filter((k) => !state.labels[k]).length);
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

  /** Opens a set, or with none shows why (`emptyMessage`: the queue's words, else the "no sets waiting" text). */
  async function openSet(setId, emptyMessage) {
    const empty = document.getElementById("empty"), ws = document.getElementById("workspace");
    const queueEmpty = document.getElementById("queue-empty");
    queueEmpty.hidden = !emptyMessage; queueEmpty.textContent = emptyMessage ? `Nothing left for you: ${emptyMessage}.` : "";
    if (!setId) {
      state.set = null; empty.hidden = !!emptyMessage; ws.hidden = true;
      for (const slot of ["set-title", "reason", "set-answers", "blind-note", "machine-note"]) {
        document.getElementById(slot).textContent = "";
      }
      document.getElementById("blind-note").hidden = true; document.getElementById("machine-note").hidden = true;
      ui.teamPanel.hide();
      return;
    }
    const set = await ui.api(`/transforms/${id}/labeling-sets/${encodeURIComponent(setId)}`);
    empty.hidden = true; ws.hidden = false;
    state.set = set; state.undo = []; state.missingShown = false;
    Object.assign(state, displayOrder(set));
    const pk = state.transform.primary_key, seen = new Set([pk]);
    state.columns = [pk];
    for (const r of set.records) for (const c of Object.keys(r)) if (!seen.has(c)) { seen.add(c); state.columns.push(c); }
    const draft = JSON.parse(localStorage.getItem(draftKey(set.set_id)) || "null");
    if (draft) {
      state.labels = draft.labels || {}; state.focus = Math.min(draft.focus || 0, set.records.length - 1);
      ui.notice("Restored your unsaved draft of this set.");
    } else {
      state.focus = 0;
      state.labels = shortLabels(Object.fromEntries(set.labels.map((l) => [l.record_key, l.label])),
        state.order.map((r) => set.record_keys[r]));
      ui.notice(null);
    }
    state.machineLabels = {};
    for (const l of set.labels) if (l.labeled_by === "machine") state.machineLabels[l.record_key] = state.labels[l.record_key];
    document.getElementById("reason").textContent = set.blind ? "" : reasonText(set.reason);
    document.getElementById("set-answers").textContent = answersText(set);
    const blind = blindText(set), note = document.getElementById("blind-note");
    note.textContent = blind; note.hidden = !blind;
    const machine = machineText(set), machineNote = document.getElementById("machine-note");
    machineNote.textContent = machine; machineNote.hidden = !machine;
    const url = new URL(location.href); url.searchParams.set("set", set.set_id);
    history.replaceState(null, "", url);
    render();
    ui.teamPanel.show(set, panelHooks);
    document.getElementById("workspace").focus({ preventScroll: true });
  }

  /** What the reviewers' panel (label_team.js) may read and do in the workspace. */
  const panelHooks = {
    labels: () => Object.assign({}, state.labels),
    shownKeys: () => state.order.map((r) => state.set.record_keys[r]),
    primaryKey: () => state.transform.primary_key,
    hue,
    shortLabels,
    focusKey(key) {
      const at = state.order.findIndex((r) => state.set.record_keys[r] === key);
      if (at >= 0) { state.focus = at; render(); document.getElementById("workspace").focus({ preventScroll: true }); }
    },
    async reopen() {
      localStorage.removeItem(draftKey(state.set.set_id));
      await loadSets();
      await openSet(state.set.set_id);
    },
  };

  /** "Next set for me": the caller's queue; from then on Save & next follows the queue too. */
  async function nextForMe() {
    const found = await ui.api(`/transforms/${id}/labeling-queue/next`);
    state.fromQueue = true;
    await openSet(found.set_id, found.set_id ? null : found.message);
  }

  async function save() {
    if (!state.set || state.busy) return;
    const keys = state.set.record_keys, missing = keys.filter((k) => !state.labels[k]);
    if (missing.length) {
      state.missingShown = true;
      state.focus = state.order.findIndex((r) => !state.labels[keys[r]]); render(); return;
    }
    state.busy = true;
    try {
      await ui.guard(async () => {
        const labels = keys.map((k) => ({ record_key: k, label: state.labels[k] }));
        const setId = state.set.set_id;
        await ui.api(`/transforms/${id}/labeling-sets/${encodeURIComponent(setId)}`, { method: "PUT", body: { labels } });
        localStorage.removeItem(draftKey(setId));
        await loadSets();
        ui.steps.refresh();
        if (state.fromQueue) await nextForMe(); else await openSet(nextSetId(setId));
        ui.notice(`Saved set ${setId}.`);
      });
    } finally { state.busy = false; }
  }

  /** The "no group yet" alert, kept up to date while the labeler fills the gaps; gone once every record has one. */
  function showMissing(count) {
    if (!count) { state.missingShown = false; ui.showError(null); return; }
    ui.showError(`${count} record${count === 1 ? " has" : "s have"} no group yet: `
      + "press a group key on each, or n to mark all different.");
  }

  async function skip() {
    if (!state.set) return;
    addSkipped(state.set.set_id);
    await ui.guard(() => openSet(nextSetId(state.set.set_id)));
  }

  function onKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) return;
    if (e.key === "N") { e.preventDefault(); if (!state.busy) ui.guard(nextForMe); return; }  // works with no set open too
    if (!state.set) return;
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
      const next = Object.assign({}, state.labels); next[keyAt(state.focus)] = key.toLowerCase();
      changeLabels(next, Math.min(n - 1, state.focus + 1));  // on to the next record: one key per record
    } else return;
    e.preventDefault();
  }

  function allDifferent() {
    const next = {};
    state.order.forEach((r, i) => {  // in the order shown: the first row is 1, the next 2, ...
      next[state.set.record_keys[r]] = i < GROUP_KEYS.length ? GROUP_KEYS[i] : `g${i + 1}`;
    });
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
    document.getElementById("next-for-me").addEventListener("click", () => { if (!state.busy) ui.guard(nextForMe); });
    document.getElementById("group-keys").replaceChildren(
      ...GROUP_KEYS.flatMap((k, i) => [i ? " " : "", ui.el("kbd", { text: k })]));
    await loadSets();
    const policy = state.transform.labeling_policy || {};
    const wanted = new URLSearchParams(location.search).get("set");
    if (!wanted && (policy.answers_per_set > 1 || policy.gold_share > 0)) await nextForMe();  // a team: the queue
    else await openSet(nextSetId(null));
  }));
})();
