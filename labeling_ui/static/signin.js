"use strict";
(function () {
  const form = document.getElementById("signin-form");
  // the server checked ?next= (pages.safe_next); the same-origin test stays as a second lock
  const next = form.dataset.next || "/transforms";
  const target = new URL(next, location.origin).origin === location.origin ? next : "/transforms";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = document.getElementById("token").value.trim();
    ui.guard(async () => {
      const me = await ui.api("/me", { token });
      localStorage.setItem(TOKEN_KEY, token);
      ui.notice(`Signed in as ${me.name} (${me.role})`);
      location.href = target;
    });
  });
  ui.ready.then(() => { if (ui.me) ui.notice(`Signed in as ${ui.me.name}. Sign in again to switch users, or go to `
    + "Transforms."); });
})();
