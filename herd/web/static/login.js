// The sign-in form of herd web (/login): CSP-safe (no inline script), nothing kept but the server's cookies.
// GET /login/state gives the form's CSRF token and sets it as a cookie too; POST /login must carry both.
"use strict";

const $ = (id) => document.getElementById(id);

async function prepare() {
  if (new URLSearchParams(location.search).get("expired")) $("login-expired").hidden = false;
  const response = await fetch("/login/state", { credentials: "same-origin" });
  const state = await response.json();
  $("login-csrf").value = state.csrf;
  if (!state.passwords) {
    $("login-none").hidden = false;
    return;
  }
  $("login-submit").disabled = false;
  $("login-user").focus();
}

async function signIn(event) {
  event.preventDefault();
  $("login-submit").disabled = true;
  $("login-message").textContent = "";
  try {
    const response = await fetch("/login", {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: $("login-user").value, password: $("login-password").value,
                             csrf: $("login-csrf").value }),
    });
    const answer = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    if (response.ok) {
      location.assign(answer.next || "/");
      return;
    }
    $("login-message").textContent = answer.error || `HTTP ${response.status}`;
    $("login-password").value = "";
    if (response.status === 403) await prepare();      // a fresh sign-in token for the next try
  } catch (error) {
    $("login-message").textContent = `herd web cannot be reached: ${error.message}`;
  }
  $("login-submit").disabled = false;
}

$("login-form").addEventListener("submit", signIn);
prepare().catch((error) => { $("login-message").textContent = `herd web cannot be reached: ${error.message}`; });
