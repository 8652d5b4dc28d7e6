"use strict";
(function () {
  const page = document.body.dataset.page;
  const PRESETS = ["0.2", "0.5", "0.9"];

  async function loadList() {
    const body = await ui.api("/transforms");
    const tbody = document.querySelector("#transforms-table tbody");
    if (!body.transforms.length) {
      tbody.replaceChildren(ui.el("tr", {}, ui.el("td", { colspan: 7, text: "No transforms yet." })));
      return;
    }
    tbody.replaceChildren(...body.transforms.map((t) => ui.el("tr", { "data-id": t.id },
      ui.el("td", {}, ui.el("a", { href: `/transforms/${t.id}/runs`, text: t.name })),
      ui.el("td", {}, ui.el("span", { class: "status " + t.status, text: t.status })),
      ui.el("td", { class: "num", text: t.label_count }),
      ui.el("td", { class: "num", text: ui.fmt(t.precision_recall_tradeoff, 2) }),
      ui.el("td", { class: "num", text: ui.fmt(t.accuracy_cost_tradeoff, 2) }),
      ui.el("td", { text: t.enforce_provided_labels ? "on" : "off" }),
      ui.el("td", { class: "links" },
        ui.el("a", { href: `/transforms/${t.id}/runs`, text: "Task runs" }), " · ",
        ui.el("a", { href: `/transforms/${t.id}/label`, text: "Label" }), " · ",
        ui.el("a", { href: `/transforms/${t.id}/quality`, text: "Quality" }), " · ",
        ui.el("a", { href: `/transforms/${t.id}/matches`, text: "Matches" }), " · ",
        ui.el("a", { href: `/transforms/${t.id}/entities`, class: "entities-link", text: "Entities" }),
        ui.isDecider() ? [" · ", ui.el("a", { href: `/transforms/${t.id}/team`, class: "team-link", text: "Team" })]
          : null,
        ui.isAdmin() ? [" · ", ui.el("a", { href: `/transforms/${t.id}/edit`, class: "settings", text: "Settings" }),
          " ", ui.deleteButton(`transform ${t.name}`, `/transforms/${t.id}`,
            `Delete transform “${t.name}” with its ${t.label_count} labels, labeling sets, task runs, outputs and ` +
            "models? The dataset stays. This cannot be undone.", loadList)]
          : null))));
  }

  function bindKnob(fieldset) {
    const range = fieldset.querySelector("input[type=range]");
    const out = fieldset.querySelector("output");
    const radios = [...fieldset.querySelectorAll("input[type=radio]")];
    const sync = () => {
      const v = Number(range.value).toFixed(2);
      out.textContent = v;
      const preset = PRESETS.find((p) => Number(p).toFixed(2) === v);
      radios.forEach((r) => { r.checked = r.value === (preset || "custom"); });
    };
    range.addEventListener("input", sync);
    radios.forEach((r) => r.addEventListener("change", () => {
      if (r.value !== "custom") range.value = r.value; else range.focus();
      sync();
    }));
    return { get: () => Number(range.value), set: (v) => { range.value = v ?? 0.5; sync(); } };
  }

  /** The labeling policy's inputs (data-policy="field"); the review band is two inputs (data-index 0 and 1). */
  const policyInputs = () => [...document.querySelectorAll("[data-policy]")];
  const number = (input) => (input.value.trim() === "" ? null : Number(input.value));

  function fillPolicy(policy) {
    for (const input of policyInputs()) {
      const value = policy[input.dataset.policy];
      if (input.type === "checkbox") input.checked = !!value;
      else input.value = input.dataset.index !== undefined ? value[Number(input.dataset.index)] : value;
    }
  }

  /** The stored policy with the form's fields over it (fields the form lacks keep their stored value). */
  function readPolicy(stored) {
    const policy = Object.assign({}, stored, { review_band: [...stored.review_band] });
    for (const input of policyInputs()) {
      const field = input.dataset.policy;
      if (input.type === "checkbox") policy[field] = input.checked;
      else if (input.tagName === "SELECT") policy[field] = input.value;
      else if (input.dataset.index !== undefined) policy[field][Number(input.dataset.index)] = number(input);
      else policy[field] = number(input);
    }
    return policy;
  }

  /** A 422 naming a policy field (labeling_policy.X): its message next to the field, which gets the focus. */
  function showPolicyError(problem) {
    for (const slot of document.querySelectorAll("[data-error-for]")) slot.textContent = "";
    for (const input of policyInputs()) input.removeAttribute("aria-invalid");
    const field = problem && typeof problem.field === "string" && problem.field.startsWith("labeling_policy.")
      ? problem.field.slice("labeling_policy.".length) : null;
    const slot = field && document.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
    if (!slot) return;
    slot.textContent = problem.detail || problem.title;
    const inputs = policyInputs().filter((i) => i.dataset.policy === field);
    inputs.forEach((i) => i.setAttribute("aria-invalid", "true"));
    if (inputs.length) inputs[0].focus();
  }

  /** The column-types table: one select per column, "Automatic" (the dataset's guess) or a registered type
   *  (GET /column-types gives the names, labels and descriptions); ``read`` gives the choices as the API's
   *  column_types. */
  async function columnTypes(t) {
    const [registry, dataset] = await Promise.all([ui.api("/column-types"), ui.api(`/datasets/${t.dataset_id}`)]);
    const types = Object.fromEntries(registry.column_types.map((c) => [c.name, c]));
    const guessed = Object.fromEntries(dataset.columns.map((c) => [c.name, c.type]));
    const rows = t.columns.map((c) => {
      const guess = types[guessed[c.name]];
      const select = ui.el("select", { id: `ct-${c.name}`, "data-column": c.name },
        ui.el("option", { value: "", text: `Automatic (${guess ? guess.label : "none"})` }),
        ...registry.column_types.map((type) => ui.el("option", { value: type.name, text: type.label })));
      select.value = c.chosen ? c.type : "";
      const what = ui.el("td", { class: "hint" });
      const describe = () => {
        const type = types[select.value] || guess;
        what.textContent = type ? type.description : "";
      };
      select.addEventListener("change", describe);
      describe();
      return ui.el("tr", { "data-column": c.name },
        ui.el("th", { scope: "row" }, ui.el("label", { for: select.id, text: c.name })), ui.el("td", {}, select),
        what);
    });
    document.querySelector("#column-types-table tbody").replaceChildren(...rows);
    const selects = rows.map((row) => row.querySelector("select"));
    return {
      read() {
        const chosen = Object.fromEntries(selects.filter((s) => s.value).map((s) => [s.dataset.column, s.value]));
        return Object.keys(chosen).length ? chosen : null;
      },
    };
  }

  async function initForm() {
    const id = ui.ids().transformId;
    const knobs = {};
    document.querySelectorAll("fieldset.knob").forEach((f) => { knobs[f.dataset.knob] = bindKnob(f); });
    const name = document.getElementById("t-name"), enforce = document.getElementById("t-enforce");
    const survivorship = document.getElementById("t-survivorship");
    const dsSelect = document.getElementById("t-dataset"), pk = document.getElementById("t-pk");
    let datasets = [], stored = null, choices = null;
    document.getElementById("t-fields").disabled = !ui.isAdmin();  // labelers see the settings, read-only
    if (id) {
      document.getElementById("create-only").hidden = true;
      dsSelect.required = false; pk.required = false;
      const t = await ui.transformName(id);
      document.querySelector("h1").textContent = (ui.isAdmin() ? "Edit transform " : "Transform ") + t.name;
      name.value = t.name;
      knobs.precision_recall_tradeoff.set(t.precision_recall_tradeoff);
      knobs.accuracy_cost_tradeoff.set(t.accuracy_cost_tradeoff);
      enforce.checked = !!t.enforce_provided_labels;
      survivorship.value = t.survivorship ? JSON.stringify(t.survivorship, null, 1) : "";
      fillPolicy(t.labeling_policy);
      stored = t.labeling_policy;
      choices = await columnTypes(t);
    } else {
      document.getElementById("policy").hidden = true;  // set once the transform exists (its Settings page)
      document.getElementById("column-types").hidden = true;  // likewise: the table lists the transform's columns
      knobs.precision_recall_tradeoff.set(0.5); knobs.accuracy_cost_tradeoff.set(0.5);
      datasets = (await ui.api("/datasets")).datasets;
      dsSelect.replaceChildren(...datasets.map((d) => ui.el("option", { value: d.id, text: d.name })));
      const wanted = new URLSearchParams(location.search).get("dataset");
      if (wanted) dsSelect.value = wanted;
      const fillColumns = () => {
        const d = datasets.find((x) => x.id === dsSelect.value);
        pk.replaceChildren(...(d ? d.columns : []).map((c) => ui.el("option", { value: c.name, text: `${c.name} (${c.type})` })));
        const guess = d && d.columns.find((c) => /^(id|key|pk)$/i.test(c.name));
        if (guess) pk.value = guess.name;
      };
      dsSelect.addEventListener("change", fillColumns); fillColumns();
    }
    document.getElementById("transform-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const body = { name: name.value.trim(), precision_recall_tradeoff: knobs.precision_recall_tradeoff.get(),
        accuracy_cost_tradeoff: knobs.accuracy_cost_tradeoff.get(), enforce_provided_labels: enforce.checked };
      ui.guard(async () => {
        const rules = survivorship.value.trim();
        try {
          body.survivorship = rules ? JSON.parse(rules) : null;
        } catch (err) {
          throw new Error(`Golden records: not JSON (${err.message})`);
        }
        let t;
        if (id) {
          body.labeling_policy = readPolicy(stored);
          body.column_types = choices.read();
          try {
            t = await ui.api(`/transforms/${id}`, { method: "PATCH", body });
          } catch (err) {
            showPolicyError(err.problem);
            throw err;
          }
        } else t = await ui.api("/transforms", { method: "POST", body: Object.assign(body, { dataset_id: dsSelect.value, primary_key: pk.value }) });
        location.href = `/transforms/${t.id}/runs`;
      });
    });
  }

  ui.ready.then(() => ui.guard(page === "pages.transforms" ? loadList : initForm));
})();
