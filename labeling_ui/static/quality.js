"use strict";
(function () {
  const id = ui.ids().transformId;
  const NS = "http://www.w3.org/2000/svg";
  const svg = (tag, attrs, ...children) => {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  };

  function kpis(m) {
    const items = [["Precision", m.precision], ["Recall", m.recall], ["F1", m.f1], ["AUC-PR", m.area_under_pr_curve],
      ["Blocking recall", m.blocking_recall], ["End-to-end recall", m.recall_end_to_end], ["Threshold", m.threshold],
      ["Candidate pairs", m.candidate_pairs], ["Labeled pairs", m.labels && m.labels.labeled_pairs],
      ["Matching pairs", m.labels && m.labels.matching_pairs]];
    document.getElementById("kpis").replaceChildren(...items.flatMap(([k, v]) =>
      [ui.el("div", { class: "kpi" }, ui.el("dt", { text: k }), ui.el("dd", { text: ui.fmt(v) }))]));
  }

  function confusion(c) {
    c = c || {};
    document.getElementById("confusion").replaceChildren(
      ui.el("thead", {}, ui.el("tr", {}, ui.el("th"), ui.el("th", { scope: "col", text: "Predicted match" }),
        ui.el("th", { scope: "col", text: "Predicted non-match" }))),
      ui.el("tbody", {},
        ui.el("tr", {}, ui.el("th", { scope: "row", text: "Labeled match" }),
          ui.el("td", { class: "num good", text: ui.fmt(c.true_positive) }), ui.el("td", { class: "num bad", text: ui.fmt(c.false_negative) })),
        ui.el("tr", {}, ui.el("th", { scope: "row", text: "Labeled non-match" }),
          ui.el("td", { class: "num bad", text: ui.fmt(c.false_positive) }), ui.el("td", { class: "num good", text: ui.fmt(c.true_negative) }))));
  }

  function importance(imp) {
    const entries = Object.entries(imp || {});
    const box = document.getElementById("importance");
    if (!entries.length) { box.textContent = "No column importances."; return; }
    const rowH = 22, labelW = 160, barW = 360, w = labelW + barW + 70, h = entries.length * rowH + 10;
    const max = Math.max(1e-9, ...entries.map(([, v]) => Math.abs(v || 0)));
    const chart = svg("svg", { viewBox: `0 0 ${w} ${h}`, width: w, height: h, role: "img", class: "chart",
      "aria-label": "Column importance bar chart" });
    entries.forEach(([col, v], i) => {
      const y = 5 + i * rowH, len = (Math.abs(v || 0) / max) * barW;
      chart.append(svg("text", { x: labelW - 6, y: y + 15, "text-anchor": "end" }, col),
        svg("rect", { x: labelW, y: y + 3, width: Math.max(1, len), height: rowH - 6,
          class: (v || 0) < 0 ? "bar neg" : "bar" }, svg("title", {}, `${col}: ${ui.fmt(v, 4)}`)),
        svg("text", { x: labelW + len + 6, y: y + 15 }, ui.fmt(v, 4)));
    });
    box.replaceChildren(chart);
  }

  function prCurve(points, threshold) {
    const box = document.getElementById("pr-curve");
    if (!points || !points.length) { box.textContent = "No curve: the labels need both matches and non-matches."; return; }
    const W = 360, H = 280, L = 44, B = 36, T = 10, R = 10, iw = W - L - R, ih = H - T - B;
    const x = (r) => L + r * iw, y = (p) => T + (1 - p) * ih;
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", class: "chart",
      "aria-label": "Precision-recall curve with the current threshold marked" });
    for (const t of [0, 0.25, 0.5, 0.75, 1]) {
      chart.append(svg("line", { x1: x(t), x2: x(t), y1: T, y2: T + ih, class: "gridline" }),
        svg("line", { x1: L, x2: L + iw, y1: y(t), y2: y(t), class: "gridline" }),
        svg("text", { x: x(t), y: H - B + 14, "text-anchor": "middle" }, t),
        svg("text", { x: L - 6, y: y(t) + 4, "text-anchor": "end" }, t));
    }
    chart.append(svg("text", { x: L + iw / 2, y: H - 4, "text-anchor": "middle" }, "recall"),
      svg("text", { x: 12, y: T + ih / 2, transform: `rotate(-90 12 ${T + ih / 2})`, "text-anchor": "middle" }, "precision"));
    const sorted = [...points].sort((a, b) => a.recall - b.recall);
    chart.append(svg("polyline", { points: sorted.map((p) => `${x(p.recall)},${y(p.precision)}`).join(" "), class: "curve" }));
    if (threshold !== null && threshold !== undefined) {
      const near = points.reduce((a, b) => (Math.abs(b.threshold - threshold) < Math.abs(a.threshold - threshold) ? b : a));
      chart.append(svg("circle", { cx: x(near.recall), cy: y(near.precision), r: 6, class: "marker" },
        svg("title", {}, `threshold ${threshold}: precision ${near.precision}, recall ${near.recall}`)),
        svg("text", { x: Math.min(x(near.recall) + 8, W - 100), y: y(near.precision) - 8, class: "marker-label" },
          `threshold ${ui.fmt(threshold, 2)}`));
    }
    box.replaceChildren(chart);
  }

  const W = 360, H = 280, L = 48, B = 36, T = 10, R = 14, iw = W - L - R, ih = H - T - B;
  const note = (text) => ui.el("p", { class: "hint chart-note", text });

  /** Round ticks from 0 to at least max (a 1/2/5 × 10^k step). */
  function niceTicks(max, count = 5) {
    if (!(max > 0)) return [0, 1];
    const raw = max / count, mag = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].map((f) => f * mag).find((s) => s >= raw);
    const ticks = [];
    for (let t = 0; t < max + step / 2; t += step) ticks.push(Number(t.toPrecision(12)));
    if (ticks[ticks.length - 1] < max) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
    return ticks;
  }

  function axes(chart, xTicks, x, yTicks, y, xLabel, yLabel, yText = (t) => t) {
    for (const t of xTicks) {
      chart.append(svg("line", { x1: x(t), x2: x(t), y1: T, y2: T + ih, class: "gridline" }),
        svg("text", { x: x(t), y: H - B + 14, "text-anchor": "middle" }, t));
    }
    for (const t of yTicks) {
      chart.append(svg("line", { x1: L, x2: L + iw, y1: y(t), y2: y(t), class: "gridline" }),
        svg("text", { x: L - 6, y: y(t) + 4, "text-anchor": "end" }, yText(t)));
    }
    chart.append(svg("text", { x: L + iw / 2, y: H - 4, "text-anchor": "middle" }, xLabel),
      svg("text", { x: 12, y: T + ih / 2, transform: `rotate(-90 12 ${T + ih / 2})`, "text-anchor": "middle" }, yLabel));
  }

  /** Candidate pairs by match probability, log-scaled counts, the current threshold as a vertical line. */
  function scoreHistogram(h, threshold) {
    const box = document.getElementById("score-histogram");
    const counts = h && Array.isArray(h.counts) ? h.counts : null, edges = h && Array.isArray(h.bin_edges) ? h.bin_edges : null;
    if (!counts || !edges || !counts.length || edges.length !== counts.length + 1) {
      box.replaceChildren(note("No score histogram: this evaluation predates it. Run a new EVALUATION to see it."));
      return;
    }
    const lo = edges[0], hi = edges[edges.length - 1], span = hi - lo || 1;
    const max = Math.max(1, ...counts), top = Math.log10(max + 1);
    const x = (p) => L + ((p - lo) / span) * iw, y = (c) => T + (1 - Math.log10(c + 1) / top) * ih;
    const yTicks = [0];  // 1 sits right above 0 on this scale: label it only when nothing larger fits
    for (let t = max >= 10 ? 10 : 1; t <= max; t *= 10) yTicks.push(t);
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", class: "chart",
      "aria-label": "Histogram of the candidate pairs' match scores (log scale) with the current threshold marked" });
    axes(chart, [0, 0.25, 0.5, 0.75, 1].map((f) => Number((lo + f * span).toFixed(2))), x, yTicks, y,
      "match score", "candidate pairs (log)", (t) => (t >= 1000 ? `${t / 1000}k` : t));
    counts.forEach((c, i) => {
      if (!c) return;
      const x0 = x(edges[i]), x1 = x(edges[i + 1]);
      chart.append(svg("rect", { x: x0 + 0.5, y: y(c), width: Math.max(1, x1 - x0 - 1), height: T + ih - y(c), class: "bar" },
        svg("title", {}, `${ui.fmt(edges[i], 2)}–${ui.fmt(edges[i + 1], 2)}: ${c} pairs`)));
    });
    if (typeof threshold === "number") {
      const tx = x(Math.min(hi, Math.max(lo, threshold)));
      chart.append(svg("line", { x1: tx, x2: tx, y1: T, y2: T + ih, class: "threshold" },
        svg("title", {}, `threshold ${threshold}`)),
        svg("text", { x: tx > L + iw - 90 ? tx - 4 : tx + 4, y: T + 12, class: "marker-label",
          "text-anchor": tx > L + iw - 90 ? "end" : "start" }, `threshold ${ui.fmt(threshold, 2)}`));
    }
    const total = counts.reduce((a, b) => a + b, 0);
    box.replaceChildren(chart, note(`${total} candidate pairs in ${counts.length} bins.`));
  }

  /** F1 against labeled records over the transform's successful evaluations, oldest first. */
  async function learningCurve(current) {
    const box = document.getElementById("learning-curve");
    box.replaceChildren(note("Loading the evaluations…"));
    let points = [];
    try {
      const runs = (await ui.api(`/transforms/${id}/task-runs?type=EVALUATION&status=SUCCEEDED`)).task_runs || [];
      runs.reverse();  // the API lists newest first; the curve runs in run order
      const outputs = await Promise.allSettled(runs.map((r) => ui.api(`/task-runs/${r.id}/output`)));
      points = outputs.flatMap((o, i) => {
        const m = o.status === "fulfilled" ? o.value : null;
        const n = m && m.labels ? m.labels.n_labeled_rows : null;
        return m && typeof m.f1 === "number" && typeof n === "number" ? [{ n, f1: m.f1, run: runs[i] }] : [];
      });
    } catch (exc) {
      box.replaceChildren(note(`Cannot load the evaluation runs: ${exc.message}`));
      return;
    }
    if (!points.length && current && typeof current.f1 === "number" && current.labels
        && typeof current.labels.n_labeled_rows === "number") {
      points = [{ n: current.labels.n_labeled_rows, f1: current.f1, run: null }];
    }
    if (!points.length) { box.replaceChildren(note("No evaluation with F1 and a labeled-record count yet.")); return; }
    const xTicks = niceTicks(Math.max(...points.map((p) => p.n)));
    const xMax = xTicks[xTicks.length - 1] || 1;
    const x = (n) => L + (n / xMax) * iw, y = (f) => T + (1 - f) * ih;
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", class: "chart",
      "aria-label": `Learning curve: F1 against labeled records over ${points.length} evaluation(s)` });
    axes(chart, xTicks, x, [0, 0.25, 0.5, 0.75, 1], y, "labeled records", "F1");
    if (points.length > 1) {
      chart.append(svg("polyline", { points: points.map((p) => `${x(p.n)},${y(p.f1)}`).join(" "), class: "curve" }));
    }
    points.forEach((p, i) => chart.append(svg("circle", { cx: x(p.n), cy: y(p.f1), r: 4.5, class: "point" },
      svg("title", {}, `evaluation ${i + 1}${p.run ? ` (${ui.when(p.run.created_at)})` : ""}: ` +
        `F1 ${ui.fmt(p.f1)} with ${p.n} labeled records`))));
    box.replaceChildren(chart, note(points.length === 1
      ? "One evaluation so far: label more sets and evaluate again to draw the curve."
      : `${points.length} evaluations, oldest first.`));
  }

  /** The evaluation's advice on labeling more: its sentence, the curve points it rests on and the fitted law. */
  function stopAdvice(a) {
    const sentence = document.getElementById("stop-advice"), table = document.getElementById("stop-curve");
    const fit = document.getElementById("stop-fit");
    if (!a || typeof a.sentence !== "string") {
      sentence.textContent = "No advice on when to stop: this evaluation predates it. Run a new EVALUATION to see it.";
      return;
    }
    sentence.textContent = a.sentence.charAt(0).toUpperCase() + a.sentence.slice(1) + ".";
    const points = Array.isArray(a.curve) ? a.curve : [];
    table.hidden = !points.length;
    if (points.length) {
      table.replaceChildren(
        ui.el("thead", {}, ui.el("tr", {}, ...["Model trained on rounds", "Labeled sets", "Linked pairs (whole table)",
          "Change from the model before"].map((h) => ui.el("th", { scope: "col", text: h })))),
        ui.el("tbody", {}, points.map((p) => ui.el("tr", {}, ui.el("th", { scope: "row", text: `1-${ui.fmt(p.rounds)}` }),
          ...[p.sets, p.linked_pairs, p.change].map((v, i) =>
            ui.el("td", { class: "num", text: ui.fmt(v, i === 2 ? 4 : 0) }))))));
    }
    const f = a.fit;
    fit.textContent = f && Array.isArray(f.changes)
      ? `Each change is 1 - the pairwise F1 of a model's clusters against the model before it; the next round's ` +
        `change is the last one shrunk at the rate it last shrank (${f.rate === null ? "no rate: no change before" : ui.fmt(f.rate, 3)}, ` +
        `at most 1): ${ui.fmt(a.expected_gain, 4)}. Rounds: ${a.rounds_from}.`
      : (a.rounds_from ? `Rounds: ${a.rounds_from}.` : "");
  }

  ui.ready.then(() => ui.guard(async () => {
    const t = await ui.transformName(id);
    const m = t.evaluation_metrics;
    if (!m) { document.getElementById("no-metrics").hidden = false; return; }
    document.getElementById("metrics").hidden = false;
    document.getElementById("warnings").replaceChildren(...(m.warnings || []).map((w) => ui.el("li", { text: w })));
    kpis(m); confusion(m.confusion_matrix); importance(m.column_importance);
    prCurve(m.precision_recall_curve, m.threshold);
    scoreHistogram(m.score_histogram, m.threshold);
    stopAdvice(m.stop_advice);
    await learningCurve(m);
  }));
})();
