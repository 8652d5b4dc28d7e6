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

  ui.ready.then(() => ui.guard(async () => {
    const t = await ui.transformName(id);
    const m = t.evaluation_metrics;
    if (!m) { document.getElementById("no-metrics").hidden = false; return; }
    document.getElementById("metrics").hidden = false;
    document.getElementById("warnings").replaceChildren(...(m.warnings || []).map((w) => ui.el("li", { text: w })));
    kpis(m); confusion(m.confusion_matrix); importance(m.column_importance);
    prCurve(m.precision_recall_curve, m.threshold);
  }));
})();
