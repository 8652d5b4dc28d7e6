"use strict";
/* A transform's Team page (reviewers and admins): the review queue, each labeler's answers and accuracy with the
   flags under the policy's floor, and the audit trail of every label change, paged, with a CSV download. Labelers
   get a plain sentence instead (the API answers them 403 anyway). */
(function () {
  const id = ui.ids().transformId;
  const PAGE = 50;
  const history = { offset: 0, total: 0 };
  // a set id is a UUID: its first 8 characters tell sets apart on a page, the whole id is in the title and the link
  const setLink = (setId) => ui.el("a", { href: `/transforms/${id}/label?set=${encodeURIComponent(setId)}`,
    class: "set-link", title: setId, "aria-label": `set ${setId}`, "data-set": setId,
    text: setId.length > 12 ? setId.slice(0, 8) + "…" : setId });
  const accuracy = (value) => (value === null || value === undefined ? "–" : value.toFixed(2));

  async function loadQueue() {
    const { sets } = await ui.api(`/transforms/${id}/review-queue`);
    const tbody = document.querySelector("#review-table tbody");
    if (!sets.length) {
      tbody.replaceChildren(ui.el("tr", {}, ui.el("td", { colspan: 5, text: "No set waits for review." })));
      return;
    }
    tbody.replaceChildren(...sets.map((s) => ui.el("tr", { "data-set": s.set_id },
      ui.el("td", {}, setLink(s.set_id)), ui.el("td", { class: "num", text: s.size }),
      ui.el("td", { class: "num", text: s.answers }), ui.el("td", { class: "num", text: s.uncertain_pairs }),
      ui.el("td", { text: s.method ? s.method.replace(/_/g, " ") : "–" }))));
  }

  async function loadLabelers() {
    const report = await ui.api(`/transforms/${id}/labelers`);
    document.getElementById("labelers-method").textContent = report.consolidation
      ? `Estimated accuracy from ${report.consolidation.replace(/_/g, " ")}${report.reason ? ` (${report.reason})` : ""}.`
      : (report.reason || "");
    const tbody = document.querySelector("#labelers-table tbody");
    if (!report.labelers.length) {
      tbody.replaceChildren(ui.el("tr", {}, ui.el("td", { colspan: 7, text: "Nobody has answered a set yet." })));
      return;
    }
    tbody.replaceChildren(...report.labelers.map((l) => ui.el("tr", { "data-labeler": l.labeler,
      class: l.flagged ? "flagged" : null },
    ui.el("th", { scope: "row", text: l.labeler }), ui.el("td", { class: "num", text: l.sets_answered }),
    ui.el("td", { class: "num", text: l.pairs_answered }), ui.el("td", { class: "num", text: l.gold_pairs }),
    ui.el("td", { class: "num", text: accuracy(l.gold_accuracy) }),
    ui.el("td", { class: "num", text: accuracy(l.estimated_accuracy) }),
    ui.el("td", { class: l.flagged ? "flags bad" : "flags" },
      l.flagged ? `flagged: ${l.flags.join("; ")}` : "ok"))));
  }

  /** "5 records in 2 groups" of a {record: label} map; "–" when empty. */
  function groups(labels) {
    const keys = Object.keys(labels || {});
    if (!keys.length) return "–";
    const n = new Set(Object.values(labels)).size;
    return `${keys.length} record${keys.length === 1 ? "" : "s"} in ${n} group${n === 1 ? "" : "s"}`;
  }

  /** Pairs of records (in both maps) that were together and are now apart, or the other way round: labels are
   *  names a labeler chose, so only who is grouped with whom can change. */
  function changedPairs(before, after) {
    const keys = Object.keys(before).filter((k) => k in after);
    let changed = 0;
    for (let i = 0; i < keys.length; i++) {
      for (let j = i + 1; j < keys.length; j++) {
        const a = keys[i], b = keys[j];
        if ((before[a] === before[b]) !== (after[a] === after[b])) changed++;
      }
    }
    return changed;
  }

  function change(event) {
    const before = event.before || {}, after = event.after || {};
    let text = `${groups(before)} → ${groups(after)}`;
    if (Object.keys(before).length && Object.keys(after).length) {
      const n = changedPairs(before, after);
      text += n ? ` (${n} pair${n === 1 ? "" : "s"} changed)` : " (same groups)";
    }
    return text;
  }

  async function loadHistory(offset) {
    const page = await ui.api(`/transforms/${id}/label-history?offset=${Math.max(0, offset)}&limit=${PAGE}`);
    history.offset = page.offset ?? Math.max(0, offset); history.total = page.total;
    const tbody = document.querySelector("#history-table tbody");
    tbody.replaceChildren(...(page.events.length ? page.events.map((e) => ui.el("tr", { "data-event": e.id,
      "data-action": e.action },
    ui.el("td", { class: "when", text: ui.when(e.at) }), ui.el("td", { text: e.actor }), ui.el("td", { text: e.source }),
    ui.el("td", { text: e.action }), ui.el("td", {}, setLink(e.labeling_set_id)),
    ui.el("td", { class: "change", text: change(e) }), ui.el("td", { text: e.note || "" })))
      : [ui.el("tr", {}, ui.el("td", { colspan: 7, text: "No label changes yet." }))]));
    const last = page.events.length ? history.offset + page.events.length : history.offset;
    document.getElementById("history-range").textContent = page.total
      ? `events ${history.offset + 1}–${last} of ${page.total}` : "no events";
    document.getElementById("history-first").disabled = document.getElementById("history-prev").disabled =
      history.offset <= 0;
    document.getElementById("history-next").disabled = document.getElementById("history-last").disabled =
      last >= page.total;
  }

  const lastOffset = () => Math.max(0, Math.floor((history.total - 1) / PAGE) * PAGE);

  function bindHistory() {
    const on = (button, offset) => document.getElementById(button).addEventListener("click",
      () => ui.guard(() => loadHistory(offset())));
    on("history-first", () => 0);
    on("history-prev", () => history.offset - PAGE);
    on("history-next", () => history.offset + PAGE);
    on("history-last", lastOffset);
    const csv = document.getElementById("history-csv");
    csv.href = `${API}/transforms/${id}/label-history?format=csv`;
    csv.addEventListener("click", (e) => {
      e.preventDefault();
      ui.guard(() => ui.download(`/transforms/${id}/label-history?format=csv`, `label-history-${id}.csv`));
    });
  }

  async function load() {
    await ui.transformName(id);
    if (ui.me && ui.me.role === "labeler") { document.getElementById("team-forbidden").hidden = false; return; }
    try {
      await Promise.all([loadQueue(), loadLabelers(), loadHistory(0)]);
    } catch (exc) {
      if (exc.status === 403) { document.getElementById("team-forbidden").hidden = false; return; }
      throw exc;
    }
    if (history.total > PAGE) await loadHistory(lastOffset());  // the latest changes first
    bindHistory();
    document.getElementById("team-content").hidden = false;
  }

  ui.ready.then(() => ui.guard(load));
})();
