// Who is signed in to the page, and Sign out (herd/web/identity.py): a header element of index.html.
// A session that expired (idle or too old) sends the page back to /login, which says so.
"use strict";

(() => {
  const whoami = document.getElementById("whoami");
  const logout = document.getElementById("logout");
  let csrf = null;
  let via = null;

  async function show() {
    const env = new URLSearchParams(location.search).get("env");
    const response = await fetch("/api/session" + (env ? "?env=" + encodeURIComponent(env) : ""),
                                 { credentials: "same-origin" });
    if (!response.ok) return;
    const session = await response.json();
    csrf = session.csrf;
    const user = session.user || {};
    via = user.via;
    whoami.textContent = user.name ? `${user.name} (${user.via === "token" ? "token" : user.via})` : "";
    whoami.title = user.via === "proxy" ? "named by the login proxy" :
      user.via === "password" ? "signed in with a password" : "the token of the URL herd web printed";
    logout.hidden = !csrf || user.via === "proxy";     // behind a login proxy, sign out there
  }

  async function signOut() {
    logout.disabled = true;
    const response = await fetch("/logout", {
      method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf || "" },
    });
    const answer = await response.json().catch(() => ({}));
    location.assign(response.ok ? (answer.next || "/") : "/");
  }

  // someone at the page (a key, a click) keeps the session in use; a page only left open does not
  let active = false;
  for (const kind of ["keydown", "pointerdown", "wheel"]) {
    addEventListener(kind, () => { active = true; }, { passive: true, capture: true });
  }

  async function stillSignedIn() {
    const response = await fetch("/login/session" + (active ? "?active=1" : ""), { credentials: "same-origin" });
    active = false;
    if (!response.ok) return;
    const state = await response.json();
    if (state.alive || !csrf) return;
    if (via === "proxy") location.reload();        // the login proxy names the user again: a new session
    else location.assign("/login?expired=1");
  }

  logout.addEventListener("click", signOut);
  show().catch(() => {});
  setInterval(() => { stillSignedIn().catch(() => {}); }, 15000);
})();
