"use strict";
/* Admins: users (create, disable, enable) and a user's tokens (add, rotate, revoke). A new token's secret is shown
   once, in #secret-section, and kept nowhere else. */
(function () {
  let current = null;  // the user whose tokens are shown

  const days = (id) => {
    const value = document.getElementById(id).value.trim();
    return value ? { expires_in_days: Number(value) } : {};
  };

  function showSecret(who, token) {
    document.getElementById("secret-title").textContent = `New token “${token.name}” for ${who}`;
    document.getElementById("secret-value").textContent = token.secret;
    document.getElementById("secret-section").hidden = false;
  }

  function hideSecret() {
    document.getElementById("secret-value").textContent = "";
    document.getElementById("secret-section").hidden = true;
  }

  async function loadUsers() {
    const body = await ui.api("/users");
    const tbody = document.querySelector("#users-table tbody");
    tbody.replaceChildren(...body.users.map((u) => ui.el("tr", { "data-user": u.name },
      ui.el("td", { text: u.name }),
      ui.el("td", { text: u.role }),
      ui.el("td", { class: "status", text: u.disabled_at ? `disabled ${ui.when(u.disabled_at)}` : "enabled" }),
      ui.el("td", { class: "num", text: u.active_tokens }),
      ui.el("td", { text: ui.when(u.created_at) }),
      ui.el("td", {},
        ui.el("button", { type: "button", class: "tokens", text: "Tokens", onclick: () => ui.guard(() => loadTokens(u)) }),
        " ",
        ui.el("button", { type: "button", class: u.disabled_at ? "enable" : "disable",
          text: u.disabled_at ? "Enable" : "Disable",
          onclick: () => ui.guard(async () => {
            await ui.api(`/users/${u.id}/${u.disabled_at ? "enable" : "disable"}`, { method: "POST" });
            ui.notice(`${u.disabled_at ? "Enabled" : "Disabled"} ${u.name}`);
            await loadUsers();
          }) })))));
    if (current) {
      const fresh = body.users.find((u) => u.id === current.id);
      if (fresh) current = fresh;
    }
  }

  async function loadTokens(user) {
    current = user;
    const body = await ui.api(`/users/${user.id}/tokens`);
    document.getElementById("tokens-title").textContent = `Tokens of ${user.name}`;
    document.getElementById("tokens-section").hidden = false;
    document.querySelector("#tokens-table tbody").replaceChildren(...body.tokens.map((t) => ui.el("tr", { "data-token": t.id },
      ui.el("td", { text: t.name }),
      ui.el("td", { class: "status", text: t.status }),
      ui.el("td", { text: ui.when(t.created_at) }),
      ui.el("td", { text: t.expires_at ? ui.when(t.expires_at) : "never" }),
      ui.el("td", { text: ui.when(t.last_used_at) }),
      ui.el("td", {}, t.status === "active" ? ui.el("button", { type: "button", class: "revoke", text: "Revoke",
        onclick: () => ui.guard(async () => {
          await ui.api(`/users/${user.id}/tokens/${t.id}/revoke`, { method: "POST" });
          ui.notice(`Revoked token “${t.name}” of ${user.name}`);
          await loadUsers(); await loadTokens(current);
        }) }) : ""))));
  }

  async function newToken(rotate) {
    if (!current) return;
    const body = await ui.api(`/users/${current.id}/tokens`, { method: "POST",
      body: Object.assign({ name: rotate ? "rotated" : "added", revoke_others: rotate }, days("t-days")) });
    showSecret(current.name, body.token);
    await loadUsers(); await loadTokens(current);
  }

  async function createUser(form) {
    const body = await ui.api("/users", { method: "POST", body: Object.assign({
      name: document.getElementById("u-name").value.trim(), role: document.getElementById("u-role").value,
    }, days("u-days")) });
    form.reset();
    showSecret(body.user.name, body.token);
    ui.notice(`Created ${body.user.role} ${body.user.name}`);
    await loadUsers();
  }

  ui.ready.then(() => {
    if (!ui.isAdmin()) return;
    ui.guard(loadUsers);
    document.getElementById("create-form").addEventListener("submit", (e) => {
      e.preventDefault(); ui.guard(() => createUser(e.target));
    });
    document.getElementById("secret-done").addEventListener("click", hideSecret);
    document.getElementById("add-token").addEventListener("click", () => ui.guard(() => newToken(false)));
    document.getElementById("rotate-token").addEventListener("click", () => ui.guard(() => newToken(true)));
  });
})();
