/* Shared by every page: the token (localStorage), fetch wrapper, readable problem-JSON errors, header. */
"use strict";
const TOKEN_KEY = "matcher.token";
const API = "/api/v1";

const ui = {
  token() { return localStorage.getItem(TOKEN_KEY); },
  el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k === "style") node.style.cssText = v;  // CSSOM: allowed by the CSP, a style attribute is not
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  },
  /** Turn an RFC 9457 problem (or anything else) into one readable line. */
  describe(problem, status) {
    if (!problem || typeof problem !== "object") return `HTTP ${status}: ${problem || "request failed"}`;
    let text = problem.title ? `${problem.title}: ${problem.detail || ""}` : (problem.detail || `HTTP ${status}`);
    if (problem.field) text += ` (field ${problem.field})`;
    if (problem.row !== undefined && problem.row !== null) text += ` (row ${problem.row})`;
    if (problem.line !== undefined && problem.line !== null) text += ` (line ${problem.line})`;
    return text;
  },
  showError(message) {
    const box = document.getElementById("error");
    if (!message) { box.hidden = true; box.textContent = ""; return; }
    box.textContent = message; box.hidden = false;
  },
  notice(message) {
    const box = document.getElementById("notice");
    box.textContent = message || ""; box.hidden = !message;
  },
  signinUrl() { return "/?next=" + encodeURIComponent(location.pathname + location.search); },
  /** fetch against /api/v1 with the bearer token; resolves to parsed JSON, rejects with a readable Error. */
  async api(path, options = {}) {
    const headers = Object.assign({}, options.headers || {});
    const token = options.token || ui.token();
    if (token) headers.Authorization = "Bearer " + token;
    headers["X-Matcher-Client"] = "web-ui";  // the audit trail records changes made here as source "ui"
    let body = options.body;
    if (body !== undefined && !(body instanceof FormData) && typeof body !== "string") {
      body = JSON.stringify(body); headers["Content-Type"] = "application/json";
    }
    let response;
    try {
      response = await fetch(API + path, { method: options.method || "GET", headers, body });
    } catch (exc) {
      throw new Error("Cannot reach the server: " + exc.message);
    }
    if (response.status === 401 && !options.token) {
      localStorage.removeItem(TOKEN_KEY);  // stale token: sign in again, then come back here
      if (document.body.dataset.page !== "pages.signin") location.href = ui.signinUrl();
    }
    if (response.status === 204) return null;
    const type = response.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await response.json() : await response.text();
    if (!response.ok) {
      const err = new Error(ui.describe(data, response.status));
      err.status = response.status; err.problem = data; throw err;
    }
    return data;
  },
  /** Download an API answer that needs the bearer token (a plain link cannot send it): fetch it, then save the
   *  Blob under the server's file name (Content-Disposition), else `fallbackName`. */
  async download(path, fallbackName) {
    const response = await fetch(API + path, { headers: { Authorization: "Bearer " + ui.token(),
      "X-Matcher-Client": "web-ui" } });
    if (!response.ok) {
      let problem = null; try { problem = await response.json(); } catch (_) { /* not JSON */ }
      throw new Error(ui.describe(problem, response.status));
    }
    const disposition = response.headers.get("Content-Disposition") || "";
    const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
    const url = URL.createObjectURL(await response.blob());
    const a = ui.el("a", { href: url, download: match ? decodeURIComponent(match[1]) : fallbackName });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  },
  /** Run an async action, showing its error in the page's alert box. */
  async guard(action) {
    try { ui.showError(null); return await action(); } catch (exc) { ui.showError(exc.message); return undefined; }
  },
  fmt(value, digits = 3) {
    if (value === null || value === undefined) return "–";
    return typeof value === "number" ? (Number.isInteger(value) ? String(value) : value.toFixed(digits)) : String(value);
  },
  when(iso) { return iso ? new Date(iso).toLocaleString() : "–"; },
  duration(seconds) {
    if (seconds === null || seconds === undefined || isNaN(seconds)) return "–";
    seconds = Math.max(0, Math.round(seconds));
    const d = Math.floor(seconds / 86400), h = Math.floor(seconds / 3600) % 24;
    const m = Math.floor(seconds / 60) % 60, s = seconds % 60, pad = (x) => String(x).padStart(2, "0");
    if (d) return `${d}d ${h}h`;  // runs may last Glue's 48 h
    if (h) return `${h}h ${pad(m)}m`;
    return m ? `${m}m ${pad(s)}s` : `${s}s`;
  },
  ids() { return document.body.dataset; },
  async transformName(id) {
    const t = await ui.api(`/transforms/${id}`);
    const slot = document.getElementById("transform-name");
    if (slot) slot.textContent = "· " + t.name;
    return t;
  },
  /** Admins' delete buttons: ask the browser's confirm() with what goes, then DELETE; a refusal (409: a transform
   *  uses the dataset, a run is active) shows in the alert box with the names, and nothing is deleted. */
  deleteButton(what, path, question, after) {
    return ui.el("button", { type: "button", class: "delete danger", text: "Delete", "aria-label": `Delete ${what}`,
      onclick: () => ui.guard(async () => {
        if (!window.confirm(question)) return;
        await ui.api(path, { method: "DELETE" });
        ui.notice(`Deleted ${what}`);
        await after();
      }) });
  },
  me: null,
  /** Admins change things; labelers read and label. The API enforces it (403); the UI only hides what would fail. */
  isAdmin() { return !!ui.me && ui.me.role === "admin"; },
  /** Reviewers and admins decide sets and see the team's work (answers, accuracy, audit trail). */
  isDecider() { return !!ui.me && (ui.me.role === "admin" || ui.me.role === "reviewer"); },
  /** `value` with the characters that differ from `base` (a longest common subsequence, case-insensitive) in
   *  <mark class="chardiff">; a gap where `base` has characters `value` lacks. Short values only: the table is
   *  quadratic and long texts read better highlighted whole. Returns null when a character diff says nothing
   *  (a value too long, empty, or sharing less than half its characters with `base`). */
  charDiff(value, base, title = `differs from the most common value “${base}”`) {
    const a = [...value], b = [...base];
    if (!a.length || !b.length || a.length > ui.CHARDIFF_MAX || b.length > ui.CHARDIFF_MAX) return null;
    const same = (x, y) => x.toLowerCase() === y.toLowerCase();
    const lcs = Array.from({ length: a.length + 1 }, () => new Uint8Array(b.length + 1));
    for (let i = a.length - 1; i >= 0; i--) {
      for (let j = b.length - 1; j >= 0; j--) {
        lcs[i][j] = same(a[i], b[j]) ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
      }
    }
    if (2 * lcs[0][0] < Math.max(a.length, b.length)) return null;  // mostly different: marks would be noise
    // walk the alignment: between two matched characters, value-only characters are marked; base-only ones
    // (nothing to mark in value) leave a thin gap mark, unless value has changed characters right there
    const parts = [];
    let i = 0, j = 0, plain = "", added = "", dropped = 0;
    const close = () => {
      if (added || dropped) {
        if (plain) parts.push(plain);
        plain = "";
        parts.push(added ? ui.el("mark", { class: "chardiff", title, text: added })
          : ui.el("mark", { class: "chardiff gap", title, "aria-label": "characters missing here" }));
      }
      added = ""; dropped = 0;
    };
    while (i < a.length || j < b.length) {
      if (i < a.length && j < b.length && same(a[i], b[j])) { close(); plain += a[i]; i++; j++; }
      else if (j < b.length && (i >= a.length || lcs[i][j + 1] >= lcs[i + 1][j])) { dropped++; j++; }
      else { added += a[i]; i++; }
    }
    close();
    if (plain) parts.push(plain);
    return parts;
  },
  CHARDIFF_MAX: 40,
  /** For values too long for `charDiff`: the common beginning and end (case-insensitive) stay plain, what lies
   *  between is marked (or a gap where `base` has characters `value` lacks). Linear, so any length; null when
   *  the two share less than half their characters at the edges (marks would be noise). */
  edgeDiff(value, base, title) {
    const a = [...value], b = [...base], same = (x, y) => x.toLowerCase() === y.toLowerCase();
    let head = 0, tail = 0;
    while (head < a.length && head < b.length && same(a[head], b[head])) head++;
    while (tail < a.length - head && tail < b.length - head && same(a[a.length - 1 - tail], b[b.length - 1 - tail])) tail++;
    if (2 * (head + tail) < Math.max(a.length, b.length) || head + tail === Math.max(a.length, b.length)) return null;
    const middle = a.slice(head, a.length - tail).join("");
    return [a.slice(0, head).join(""),
      middle ? ui.el("mark", { class: "chardiff", title, text: middle })
        : ui.el("mark", { class: "chardiff gap", title, "aria-label": "characters missing here" }),
      a.slice(a.length - tail).join("")].filter((p) => p !== "");
  },
};

async function initHeader() {
  const onSignin = document.body.dataset.page === "pages.signin";
  if (!ui.token()) { if (!onSignin) location.href = ui.signinUrl(); return; }
  try {
    ui.me = await ui.api("/me");
    document.getElementById("whoami").textContent = `${ui.me.name} (${ui.me.role})`;
    const out = document.getElementById("signout");
    out.hidden = false;
    out.addEventListener("click", () => { localStorage.removeItem(TOKEN_KEY); location.href = "/"; });
    document.body.classList.add("role-" + ui.me.role);
  } catch (exc) { ui.showError(exc.message); }
}
ui.ready = initHeader();

/** The step bar of a transform's pages: upload, transform, label, evaluate, find matches, review; each done step
 *  ticked, the next one marked and said in words, with what the transform's status (READY/NOT_READY) means. */
ui.steps = {
  async state(id) {
    const [t, sets, found, models] = await Promise.all([ui.api(`/transforms/${id}`),
      ui.api(`/transforms/${id}/labeling-sets`),
      ui.api(`/transforms/${id}/task-runs?type=FIND_MATCHES&status=SUCCEEDED&limit=1`),
      ui.api(`/transforms/${id}/models`)]);
    const imported = models.models.find((m) => m.in_effect);
    return { t, waiting: sets.labeling_sets.filter((s) => s.labeled === 0).length, matched: found.task_runs.length > 0,
      imported: imported ? imported.filename : null };
  },
  /** [name, page, done] per step and the sentence saying what to do next. */
  plan({ t, waiting, matched, imported }) {
    const id = t.id, admin = ui.isAdmin(), labels = t.label_count;
    const steps = [["Upload", `/datasets/${t.dataset_id}`, true], ["Transform", `/transforms/${id}/edit`, true],
      ["Label", `/transforms/${id}/label`, labels > 0], ["Evaluate", `/transforms/${id}/quality`, !!t.evaluation_metrics],
      ["Find matches", `/transforms/${id}/runs`, matched], ["Review", `/transforms/${id}/matches`, false]];
    let next;
    if (imported && !labels && !matched) {
      next = ["Find matches", `find matches (Task runs → Find matches): the imported model ${imported} applies as it is, `
        + "no labels needed; label sets later to fit your own."];
    } else if (!labels && !waiting) {
      next = ["Label", admin ? "generate labeling sets (Task runs → Labeling set generation), then label them."
        : "an admin generates labeling sets (Task runs); then label them."];
    } else if (!labels) {
      next = ["Label", `label a set in the labeling workspace (${waiting} waiting): group the records that are the same entity, then save.`];
    } else if (!t.evaluation_metrics) {
      next = ["Evaluate", `evaluate (Task runs → Evaluation) to see how well the model does with your ${labels} labels.`];
    } else if (!matched) {
      next = ["Find matches", "find matches (Task runs → Find matches) to cluster the whole dataset."];
    } else {
      next = ["Review", "review the matches: confirm or split clusters on the Matches page, then label more sets "
        + "and evaluate again while quality still improves."];
    }
    const unsupervised = imported ? `applies the imported model ${imported} (no fit) until a label is given`
      : "only has the unsupervised cold start";
    const status = labels ? `READY: it has ${labels} label${labels === 1 ? "" : "s"} to learn from.`
      : `NOT_READY: no labels yet. Evaluate is refused until the transform has labels, and Find matches ${unsupervised}; `
        + "label one set (or import a labels file) to make it READY.";
    return { steps, next, status };
  },
  render(plan) {
    const bar = document.getElementById("steps");
    const [nextName, nextText] = plan.next;
    bar.dataset.next = nextName;
    bar.replaceChildren(
      ui.el("ol", {}, plan.steps.map(([name, href, done], i) => {
        const isNext = name === nextName;
        return ui.el("li", { class: [done ? "done" : "", isNext ? "next" : ""].join(" ").trim() || null,
          "data-step": name }, ui.el("a", { href, "aria-current": isNext ? "step" : null },
          `${done ? "✓" : i + 1} ${name}`));
      })),
      ui.el("p", { class: "next-step" }, ui.el("strong", { text: "Next: " }), nextText),
      ui.el("p", { class: "status-help" }, ui.el("span", { class: "status " + plan.status.split(":")[0],
        text: plan.status.split(":")[0] }), plan.status.slice(plan.status.indexOf(":"))));
  },
  async refresh() {
    const id = document.body.dataset.transformId;
    if (!id || !document.getElementById("steps") || !ui.token()) return;
    try { ui.steps.render(ui.steps.plan(await ui.steps.state(id))); } catch (_) { /* the page shows its own errors */ }
  },
};
ui.ready.then(() => ui.steps.refresh());
