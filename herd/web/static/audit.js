// herd web: the audit view.  Who changed what, when, on which hosts, and how it ended: the page's
// entries and the CLI's (one trail, herd/audit.py), newest first, from GET /api/audit.
// Filters live in the URL (audit_user, audit_action, audit_host, audit_q) so a view can be
// bookmarked and survives a reload.  Read while the view is shown: when it appears, then every
// 5 s (a new entry shows within that).  Everything from the trail goes in with textContent.
"use strict";

(() => {
  const POLL_MS = 5000;
  const LIMIT = 200;
  const FILTERS = [["user", "audit_user"], ["action", "audit_action"], ["host", "audit_host"], ["q", "audit_q"]];
  let section = null, wasShown = false, typing = null, busy = false;

  const $a = (id) => document.getElementById(id);
  const field = (name) => $a(`audit-${name}`);

  function node(tag, className, text) {
    const made = document.createElement(tag);
    if (className) made.className = className;
    if (text !== undefined && text !== null) made.textContent = String(text);
    return made;
  }

  function shown() {
    // shown one view at a time by the page's nav: hidden attribute, a class, or display none
    return !!section && !section.hidden && section.getClientRects().length > 0;
  }

  function readUrl() {
    const params = new URLSearchParams(location.search);
    for (const [name, key] of FILTERS) field(name).value = params.get(key) || "";
  }

  function writeUrl() {
    const params = new URLSearchParams(location.search);
    for (const [name, key] of FILTERS) {
      const value = field(name).value.trim();
      if (value) params.set(key, value); else params.delete(key);
    }
    const query = params.toString();
    history.replaceState(history.state, "", location.pathname + (query ? "?" + query : "") + location.hash);
  }

  function hostsOf(entry) {
    const hosts = entry.hosts && typeof entry.hosts === "object" ? Object.keys(entry.hosts) : [];
    return hosts.filter((h) => h !== "summary");
  }

  function targetText(targets) {
    // restart worker / update tornado / rolling-restart tornado: what the action was about
    if (!targets || typeof targets !== "object") return "";
    const parts = [];
    if (Array.isArray(targets.targets)) {
      parts.push(...new Set(targets.targets.map((t) => t && t.name).filter(Boolean)));
    }
    for (const key of ["names", "groups"]) if (Array.isArray(targets[key])) parts.push(...targets[key]);
    if (typeof targets.name === "string") parts.push(targets.name);
    if (targets.signal) parts.unshift("SIG" + String(targets.signal).replace(/^SIG/, ""));
    return parts.join(" ");
  }

  function timeText(iso) {
    // 2026-12-04T21:03:11.402+00:00 -> 2026-12-04 21:03:11 UTC (the trail's clock, the same for everyone)
    const match = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)/.exec(String(iso || ""));
    return match ? `${match[1]} ${match[2]} UTC` : String(iso || "");
  }

  function resultClass(result) {
    const word = String(result || "").split(":")[0];
    return "audit-result audit-" + (["done", "refused", "failed", "interrupted"].includes(word) ? word : "other");
  }

  function row(entry) {
    const tr = node("tr");
    tr.dataset.user = entry.user || "";
    tr.dataset.action = entry.action || "";
    const time = node("td", "audit-time", timeText(entry.time));
    time.title = String(entry.time || "");
    const user = node("td", "audit-user", entry.user || "-");
    user.title = entry.from ? `from ${entry.from}` : "";
    const action = node("td", "audit-action");
    action.append(node("span", "audit-action-name", entry.action || ""));
    const about = targetText(entry.targets);
    if (about) action.append(" ", node("span", "audit-targets", about));
    if (entry.env) action.append(" ", node("span", "audit-env", entry.env));
    const hosts = hostsOf(entry);
    const hostCell = node("td", "audit-hosts", hosts.join(", ") || "-");
    hostCell.title = Object.values(entry.hosts || {}).flatMap((said) => (Array.isArray(said) ? said : [])).join("\n");
    const result = node("td", resultClass(entry.result), entry.result || "");
    if (entry.exit_code !== undefined && entry.exit_code !== null) result.title = `exit code ${entry.exit_code}`;
    tr.append(time, user, node("td", "audit-via", entry.via || ""), action, hostCell, result);
    return tr;
  }

  function render(entries) {
    const body = $a("audit-rows");
    body.replaceChildren(...entries.map(row));
    $a("audit-empty").hidden = entries.length > 0;
    const filtered = FILTERS.some(([name]) => field(name).value.trim());
    $a("audit-count").textContent = `${entries.length}${entries.length >= LIMIT ? "+" : ""} entr` +
      `${entries.length === 1 ? "y" : "ies"}${filtered ? " (filtered)" : ""}, newest first`;
  }

  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const query = new URLSearchParams({ limit: String(LIMIT) });
      const env = new URLSearchParams(location.search).get("env");
      if (env) query.set("env", env);
      for (const [name] of FILTERS) {
        const value = field(name).value.trim();
        if (value) query.set(name, value);
      }
      const response = await fetch("/api/audit?" + query, { credentials: "same-origin" });
      const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
      $a("audit-error").textContent = response.ok ? "" : data.error || `HTTP ${response.status}`;
      $a("audit-error").hidden = response.ok;
      if (response.ok) render(data.entries || []);
    } catch (error) {
      $a("audit-error").textContent = `could not read the audit trail: ${error}`;
      $a("audit-error").hidden = false;
    } finally {
      busy = false;
    }
  }

  function changed() {
    writeUrl();
    clearTimeout(typing);
    typing = setTimeout(refresh, 250);
  }

  function watchShown() {
    const now = shown();
    if (now && !wasShown) refresh();
    wasShown = now;
  }

  function init() {
    section = $a("view-audit");
    if (!section) return;
    readUrl();
    for (const [name] of FILTERS) field(name).addEventListener("input", changed);
    $a("audit-clear").addEventListener("click", () => {
      for (const [name] of FILTERS) field(name).value = "";
      changed();
    });
    $a("audit-refresh").addEventListener("click", refresh);
    // refreshed when the view appears (however the nav shows it), then polled while it is shown
    new MutationObserver(watchShown).observe(document.body,
      { attributes: true, subtree: true, attributeFilter: ["hidden", "class"] });
    window.addEventListener("popstate", () => { readUrl(); refresh(); });
    setInterval(() => { if (shown()) refresh(); }, POLL_MS);
    watchShown();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
