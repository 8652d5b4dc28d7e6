"use strict";
(function () {
  const page = document.body.dataset.page;

  async function loadList() {
    const body = await ui.api("/datasets");
    const tbody = document.querySelector("#datasets-table tbody");
    tbody.replaceChildren(...body.datasets.map((d) => ui.el("tr", { "data-id": d.id },
      ui.el("td", {}, ui.el("a", { href: `/datasets/${d.id}`, text: d.name })),
      ui.el("td", { class: "num", text: d.row_count }),
      ui.el("td", { text: d.columns.map((c) => c.name).join(", ") }),
      ui.el("td", { text: d.source || "" }),
      ui.el("td", { text: ui.when(d.created_at) }),
      ui.el("td", {}, ui.isAdmin() ? [ui.el("a", { href: `/transforms/new?dataset=${d.id}`, class: "new-transform",
        text: "New transform" }), " ", ui.deleteButton(`dataset ${d.name}`, `/datasets/${d.id}`,
        `Delete dataset “${d.name}” (${d.row_count} rows) and its stored copy? This cannot be undone.`, loadList)]
        : ""))));
    if (!body.datasets.length) tbody.replaceChildren(ui.el("tr", {}, ui.el("td", { colspan: 6, text: "No datasets yet." })));
  }

  function upload(form) {
    const file = document.getElementById("upload-file").files[0];
    if (!file) { ui.showError("Choose a file to upload"); return; }
    const data = new FormData();
    data.append("file", file);
    const name = document.getElementById("upload-name").value.trim();
    if (name) data.append("name", name);
    const box = document.getElementById("upload-progress");
    const bar = box.querySelector(".bar"), pct = box.querySelector(".pct");
    const set = (p) => { bar.style.width = p + "%"; bar.setAttribute("aria-valuenow", p); pct.textContent = p + "%"; };
    box.hidden = false; set(0); ui.showError(null);
    const button = form.querySelector("button"); button.disabled = true;
    const xhr = new XMLHttpRequest();  // fetch has no upload progress
    xhr.open("POST", API + "/datasets");
    xhr.setRequestHeader("Authorization", "Bearer " + ui.token());
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) set(Math.round((100 * e.loaded) / e.total)); };
    xhr.onerror = () => { button.disabled = false; ui.showError("Upload failed: cannot reach the server"); };
    xhr.onload = () => {
      button.disabled = false;
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (_) { body = xhr.responseText; }
      if (xhr.status === 201) {
        set(100); ui.notice(`Uploaded ${body.name}: ${body.row_count} rows`);
        location.href = `/datasets/${body.id}`;
      } else {
        ui.showError("Upload failed. " + ui.describe(body, xhr.status));
      }
    };
    xhr.send(data);
  }

  // Which columns can be the primary key, known at upload: a transform needs one, unique and never empty.
  function keyHelp(columns) {
    if (columns.some((c) => c.unique_non_empty === null || c.unique_non_empty === undefined)) return "";
    const keys = columns.filter((c) => c.unique_non_empty).map((c) => c.name);
    return keys.length
      ? `Unique and never empty, so usable as the primary key: ${keys.join(", ")}.`
      : "No column is unique and never empty: a transform needs such a column as its primary key " +
        "(add an id column to the file).";
  }

  async function loadOne(id) {
    const d = await ui.api(`/datasets/${id}?preview_rows=20`);
    document.querySelector("h1").textContent = "Dataset " + d.name;
    document.title = `Dataset ${d.name} · matcher`;
    document.getElementById("dataset-meta").textContent =
      `${d.row_count} rows · ${d.columns.length} columns · ${d.source || ""} · created ${ui.when(d.created_at)}`;
    document.getElementById("new-transform").href = `/transforms/new?dataset=${d.id}`;
    document.getElementById("columns").replaceChildren(...d.columns.map((c) =>
      ui.el("li", {}, ui.el("strong", { text: c.name }), " ", ui.el("span", { class: "type", text: c.type || "?" }),
        c.unique_non_empty ? ui.el("span", { class: "key", text: " unique, never empty" }) : "")));
    document.getElementById("key-help").textContent = keyHelp(d.columns);
    const names = d.columns.map((c) => c.name);
    const table = document.getElementById("preview");
    table.replaceChildren(
      ui.el("thead", {}, ui.el("tr", {}, names.map((n, i) =>
        ui.el("th", { scope: "col" }, n, ui.el("br"), ui.el("span", { class: "type", text: d.columns[i].type || "?" }))))),
      ui.el("tbody", {}, (d.preview || []).map((row) => ui.el("tr", {}, names.map((n) =>
        ui.el("td", { text: row[n] === null || row[n] === undefined ? "" : row[n] }))))));
  }

  ui.ready.then(() => {
    if (page === "pages.datasets") {
      ui.guard(loadList);
      document.getElementById("upload-form").addEventListener("submit", (e) => { e.preventDefault(); upload(e.target); });
    } else {
      ui.guard(() => loadOne(ui.ids().datasetId));
    }
  });
})();
