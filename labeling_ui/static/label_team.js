"use strict";
/* The labeling workspace's panel for reviewers and admins: each labeler's answer side by side, the consolidation's
   uncertain pairs, the review state, "Decide (review)" with the groups shown in the workspace, and the admins' gold
   switch. Labelers never see it: the API gives them neither the answers nor the gold mark (both null). */
ui.teamPanel = (function () {
  const id = ui.ids().transformId;
  let set = null, hooks = null;
  const panel = () => document.getElementById("team-panel");
  const chip = (label, raw) => (label ? ui.el("span", { class: "group", style: `--h:${hooks.hue(label)}`, text: label,
    title: raw && raw !== label ? `label “${raw}”` : null })
    : ui.el("span", { class: "group none", text: "·", title: "no answer for this record" }));

  function reviewText(view) {
    const c = view.consolidation, how = c ? ` Consolidated by ${c.method.replace(/_/g, " ")} over ${c.answers} `
      + `answer${c.answers === 1 ? "" : "s"}${c.reason ? ` (${c.reason})` : ""}.` : "";
    if (view.review_state === "needed") return "Review needed: the labelers split or the consolidation is unsure." + how;
    if (view.review_state === "decided") return "Decided by a reviewer: the decision stands until the next review." + how;
    return (view.answer_count ? "No review needed." : "No answers yet.") + how;
  }

  /** One row per record (as shown in the workspace), one column per labeler, then the set's labels now. */
  function renderAnswers(view) {
    const doubtful = new Set((view.consolidation?.uncertain_pairs || []).flatMap((p) => [p.key_a, p.key_b]));
    const keys = hooks.shownKeys(), asMap = (labels) => Object.fromEntries(labels.map((l) => [l.record_key, l.label]));
    // each column in short group names (1, 2, ...) when its labels are long: who is with whom is what compares
    const column = (labels) => { const raw = asMap(labels); return [raw, hooks.shortLabels(raw, keys)]; };
    const byLabeler = view.answers.map((a) => [a.labeler, ...column(a.labels)]);
    const [decidedRaw, decided] = column(view.labels);
    const head = ui.el("thead", {}, ui.el("tr", {}, ui.el("th", { scope: "col", text: hooks.primaryKey() }),
      byLabeler.map(([who]) => ui.el("th", { scope: "col", "data-labeler": who, text: who })),
      ui.el("th", { scope: "col", text: "set's labels" })));
    const body = ui.el("tbody", {}, keys.map((key) => ui.el("tr", {
      "data-key": key, class: doubtful.has(key) ? "doubtful" : null,
      title: doubtful.has(key) ? "in an uncertain pair" : null },
    ui.el("th", { scope: "row", class: "key-col", text: key }),
    byLabeler.map(([who, raw, labels]) => ui.el("td", { "data-labeler": who }, chip(labels[key], raw[key]))),
    ui.el("td", { class: "decided" }, chip(decided[key], decidedRaw[key])))));
    const table = document.getElementById("answers-table");
    table.parentElement.hidden = !view.answers.length;
    document.getElementById("answers-empty").hidden = !!view.answers.length;
    table.replaceChildren(ui.el("caption", { class: "sr-only", text: "Each labeler's groups per record" }), head, body);
  }

  function renderPairs(view) {
    const pairs = view.consolidation?.uncertain_pairs || [];
    const list = document.getElementById("uncertain-pairs");
    if (!pairs.length) { list.replaceChildren(ui.el("li", { class: "hint", text: "None." })); return; }
    list.replaceChildren(...pairs.map((p) => ui.el("li", { "data-pair": `${p.key_a}|${p.key_b}` },
      ui.el("button", { type: "button", class: "link-like", title: "focus this record in the workspace",
        onclick: () => hooks.focusKey(p.key_a), text: `${p.key_a} – ${p.key_b}` }),
      `: ${p.n_match_votes} of ${p.n_answers} say same entity, posterior ${ui.fmt(p.posterior, 2)}`,
      p.why ? ` (${p.why})` : "")));
  }

  async function decide(e) {
    e.preventDefault();
    const labels = hooks.labels(), keys = hooks.shownKeys(), missing = keys.filter((k) => !labels[k]);
    if (missing.length) {
      ui.showError(`${missing.length} record${missing.length === 1 ? " has" : "s have"} no group: give each `
        + "record a group in the workspace before deciding.");
      return;
    }
    const note = document.getElementById("review-note").value.trim();
    const body = { labels: keys.map((k) => ({ record_key: k, label: labels[k] })) };
    if (note) body.note = note;
    await ui.guard(async () => {
      const setId = set.set_id;
      await ui.api(`/transforms/${id}/labeling-sets/${encodeURIComponent(setId)}/review`, { method: "PUT", body });
      document.getElementById("review-note").value = "";
      await hooks.reopen();
      ui.notice(`Decided set ${setId}: its labels are the groups you gave, until the next review.`);
    });
  }

  async function toggleGold(e) {
    const box = e.target, wanted = box.checked;
    const done = await ui.guard(async () => {
      await ui.api(`/transforms/${id}/labeling-sets/${encodeURIComponent(set.set_id)}/gold`,
        { method: "PUT", body: { gold: wanted } });
      ui.notice(wanted ? `Set ${set.set_id} is gold: its labels are the answer key.` : `Set ${set.set_id} is no longer gold.`);
      return true;
    });
    if (!done) box.checked = !wanted;  // refused (e.g. not labeled yet): the switch shows what is stored
  }

  function show(view, workspace) {
    set = view; hooks = workspace;
    if (view.answers === null || view.answers === undefined) { hide(); return; }  // a labeler's view of the set
    panel().hidden = false;
    document.getElementById("review-state").textContent = reviewText(view);
    panel().dataset.reviewState = view.review_state || "";
    document.getElementById("gold-toggle").checked = !!view.gold;
    renderAnswers(view);
    renderPairs(view);
  }

  function hide() { panel().hidden = true; }

  document.getElementById("review-form").addEventListener("submit", decide);
  document.getElementById("gold-toggle").addEventListener("change", toggleGold);
  return { show, hide };
})();
