// herd web: the page.  Host data is only ever put in the DOM with textContent
// (never innerHTML): a process named <img src=x onerror=...> shows as text.
//
// One view at a time (Processes, Logs, Rolls, Health, Audit), chosen in the nav; the environment, the view
// and its filters live in the URL (?env=&view=&host=...), so a page can be bookmarked, reloaded and shared,
// and back/forward move between views.  Every API call and the event stream name the environment (api()).
"use strict";

const $ = (id) => document.getElementById(id);
const S = {
  env: null, envs: [], user: "", abilities: {}, csrf: null, readOnly: false,
  hosts: new Map(), order: [], sessionHosts: [], groups: {}, selected: new Set(),
  sort: { key: "host", desc: false }, seen: new Map(), rendering: false, follow: null, roll: null,
  logs: {},   // host -> {program: path template}: the inventory's logs:
  resources: false,   // herd web --resources: RSS and CPU% columns
  health: null,       // the last health event (graded from the same poll as the table)
  view: "processes",
};
// The log view's lines: every line kept (bounded), those that came while paused, and the search.
const LOG = { lines: [], pending: [], paused: false, missed: 0, search: "" };
const LOG_KEEP = 5000;
const HOST_COLOURS = 8;
const VIEWS = ["processes", "logs", "rolls", "health", "audit"];
// The URL's parameters per view (env and view always); keys of others (audit.js's audit_*) are left alone.
const URL_KEYS = { processes: ["host", "group", "state", "q", "sort", "layout"], logs: ["host", "program", "channel", "q"],
                   rolls: ["program"], health: [], audit: [] };
const WHAT = { act: "start, stop, restart, signal or clear processes", roll: "run rolling restarts or updates",
               config: "reread, update, reload or shut down supervisord", see: "see it" };
window.herdSeen = [];   // {host, name, state, t}: when the page first showed each state (for the benchmark)

// Every API path with the page's environment: api("/api/logs", {name: "worker"}) -> /api/logs?name=worker&env=prod
function api(path, params) {
  const query = new URLSearchParams(params || {});
  if (S.env) query.set("env", S.env);
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function bytesText(count) {
  // as herd status --resources prints RSS: 812K, 35.2M, 1.4G (binary units)
  if (count === null || count === undefined) return "-";
  let value = count;
  for (const unit of ["B", "K", "M", "G", "T"]) {
    if (value < 1024 || unit === "T") {
      return unit === "B" || unit === "K" ? `${Math.floor(value)}${unit}` : `${value.toFixed(1)}${unit}`;
    }
    value /= 1024;
  }
  return "-";
}

function resourceCells(p) {
  // RSS (+: the sums of its process group, killasgroup) and CPU% with herd web --resources; nothing without
  if (!S.resources) return [];
  const known = p && p.rss_bytes !== undefined && p.rss_bytes !== null;
  const rss = known ? bytesText(p.rss_bytes) + (p.process_group ? "+" : "") : "-";
  const cpu = p && p.cpu_percent !== undefined && p.cpu_percent !== null ? p.cpu_percent.toFixed(1) : "-";
  const why = p && p.resources_error ? p.resources_error : "";
  return [el("td", { className: "rss", text: rss, title: p && p.process_group ? "process group (killasgroup)" : why }),
          el("td", { className: "cpu", text: cpu })];
}

function uptimeText(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  seconds = Math.max(0, Math.floor(seconds));
  const days = Math.floor(seconds / 86400), rest = seconds % 86400;
  const h = Math.floor(rest / 3600), m = Math.floor((rest % 3600) / 60), s = rest % 60;
  const hms = `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
  return days ? `${days} day${days === 1 ? "" : "s"}, ${hms}` : hms;
}

// -- state from the server ------------------------------------------------------------

function takeHost(h) {
  h.receivedAt = Date.now();
  if (!S.hosts.has(h.host)) S.order.push(h.host);
  S.hosts.set(h.host, h);
  const now = Date.now();
  for (const p of h.processes) {
    const key = h.host + "\u0000" + p.name;
    if (S.seen.get(key) !== p.state) {
      S.seen.set(key, p.state);
      window.herdSeen.push({ host: h.host, name: p.name, state: p.state, t: now });
    }
  }
  if (window.herdSeen.length > 20000) window.herdSeen.splice(0, 10000);
}

function takeSnapshot(data) {
  S.order = [];
  S.hosts.clear();
  for (const h of data.hosts) takeHost(h);
  if (data.health) S.health = data.health;
  schedule();
}

// A host event and the health graded from it come in one batch: both are drawn in the next frame.
function schedule() {
  if (S.rendering) return;
  S.rendering = true;
  requestAnimationFrame(() => { S.rendering = false; render(); });
}

// -- what the user may do where ----------------------------------------------------------

// Why `need` (act, roll, config) cannot be done on `host` now, or null: read-only, a host not read yet or
// unreachable, or the user's role there (/api/session's abilities).  The server decides anyway (403).
function cannot(need, host) {
  if (S.readOnly && need !== "see") return "read-only: herd web was started with --read-only";
  const h = S.hosts.get(host);
  if (!h || !h.polled) return `${host} has not been read yet`;
  if (h.error !== null) return `${host} is unreachable: ${h.error}`;
  return refusedOn(need, host);
}

function refusedOn(need, host) {
  if ((S.abilities[host] || []).includes(need)) return null;
  return `not allowed: ${S.user || "you"} may not ${WHAT[need] || need} on ${host}`;
}

// A button for the shown hosts (update config, the roll): refused when the role lacks it on one of them
// (what each host's plan or pre-flight says about unreachable ones is shown by the server).
function cannotShown(need, shown) {
  if (S.readOnly) return "read-only: herd web was started with --read-only";
  const hosts = shown || shownHosts();
  if (!hosts.length) return "no host is shown (see the Processes filters)";
  for (const host of hosts) {
    const why = refusedOn(need, host);
    if (why) return `${why} (narrow the Processes filters to the hosts you may change)`;
  }
  return null;
}

// Every [data-needs] control (with data-host: that host's; without: the shown hosts') is disabled where it
// cannot work, its title saying why.
function applyAbilities() {
  let shown = null;
  document.querySelectorAll("[data-needs]").forEach((node) => {
    if (node.dataset.title === undefined) node.dataset.title = node.title || "";
    if (!node.dataset.host && shown === null) shown = shownHosts();
    const why = node.dataset.host ? cannot(node.dataset.needs, node.dataset.host) : cannotShown(node.dataset.needs, shown);
    node.disabled = Boolean(why);
    node.title = why || node.dataset.title;
  });
}

// -- the fleet table --------------------------------------------------------------------

function rowsOf() {
  const text = $("filter-text").value.trim().toLowerCase();
  const fhost = $("filter-host").value, fgroup = $("filter-group").value, fstate = $("filter-state").value;
  const out = [];
  for (const name of S.order) {
    const h = S.hosts.get(name);
    if (fhost && h.host !== fhost) continue;
    if (fgroup && !(h.groups || []).includes(fgroup)) continue;
    if (h.error !== null) {
      if (fstate && fstate !== "UNREACHABLE" && fstate !== "!RUNNING") continue;
      if (text && !(h.host + " " + h.error).toLowerCase().includes(text)) continue;
      out.push({ host: h, p: null });
      continue;
    }
    for (const p of h.processes) {
      if (fstate === "!RUNNING" ? p.state === "RUNNING" : fstate && p.state !== fstate) continue;
      if (text && !(h.host + " " + p.name + " " + p.description).toLowerCase().includes(text)) continue;
      out.push({ host: h, p });
    }
  }
  const key = S.sort.key, dir = S.sort.desc ? -1 : 1;
  const val = (r) => {
    if (key === "host") return r.host.host;
    if (!r.p) return key === "state" ? "UNREACHABLE" : "";
    if (key === "pid") return r.p.pid || 0;
    if (key === "uptime") return r.p.uptime === null ? -1 : r.p.uptime;
    if (key === "rss") return r.p.rss_bytes === null || r.p.rss_bytes === undefined ? -1 : r.p.rss_bytes;
    if (key === "cpu") return r.p.cpu_percent === null || r.p.cpu_percent === undefined ? -1 : r.p.cpu_percent;
    return String(r.p[key === "name" ? "name" : key] || "");
  };
  out.sort((a, b) => {
    const x = val(a), y = val(b);
    if (x < y) return -dir;
    if (x > y) return dir;
    return S.order.indexOf(a.host.host) - S.order.indexOf(b.host.host);
  });
  return out;
}

function processRow(h, p) {
  const key = h.host + "\u0000" + p.name;
  const why = cannot("act", h.host);
  if (why) S.selected.delete(key);
  const box = el("input", { type: "checkbox", checked: S.selected.has(key), disabled: Boolean(why), title: why || "",
    onchange: (e) => { e.target.checked ? S.selected.add(key) : S.selected.delete(key); updateSelected(); } });
  box.setAttribute("aria-label", `select ${h.host} ${p.name}`);
  const running = p.state === "RUNNING";
  const uptime = running && p.uptime !== null ? p.uptime + (Date.now() - h.receivedAt) / 1000 : null;
  const description = p.spawnerr || (running ? "" : p.description);
  const act = (action) => el("button", { text: action, className: "act", dataset: { act: action, needs: "act", host: h.host },
    onclick: () => control(action, [{ host: h.host, name: p.name }]) });
  const logs = el("button", { text: "logs", dataset: { act: "logs" }, title: "this process's log, in the Logs view",
    onclick: () => openLogs(h.host, p.name, "stdout") });
  const own = (S.logs[h.host] || {});
  const file = own[p.group] || own[p.process] ? el("button", { text: "log file", dataset: { act: "logfile" },
    title: "the program's own log file (logs: in the inventory)", onclick: () => openLogs(h.host, p.name, "file") }) : null;
  return el("tr", { dataset: { host: h.host, process: p.name } },
    el("td", { className: "check" }, box),
    el("td", { className: "host", text: h.host }),
    el("td", { className: "name", text: p.name }),
    el("td", { className: `state state-${p.state}`, text: p.state }),
    el("td", { className: "pid", text: p.pid ? String(p.pid) : "-" }),
    el("td", { className: "uptime", text: uptimeText(uptime),
      dataset: running && p.uptime !== null ? { base: String(p.uptime), at: String(h.receivedAt) } : {} }),
    ...resourceCells(p),
    el("td", { className: "desc", text: description }),
    el("td", { className: "row-actions" }, act("start"), act("stop"), act("restart"), logs, file));
}

function errorRow(h) {
  return el("tr", { className: "error-row", dataset: { host: h.host, error: "1" } },
    el("td"), el("td", { className: "host", text: h.host }), el("td", { text: "-" }),
    el("td", { className: "state state-UNREACHABLE", text: "UNREACHABLE" }), el("td", { text: "-" }),
    el("td", { text: "-" }), ...resourceCells(null), el("td", { className: "desc", text: h.error }), el("td"));
}

// A host's buttons, each with data-needs (the ability it takes) and data-host: disabled where they cannot work.
function hostButtons(h) {
  return [
    el("button", { text: "reread", className: "small act", dataset: { act: "reread", needs: "config", host: h.host },
      onclick: () => config("reread", [h.host]) }),
    el("button", { text: "update", className: "small act", dataset: { act: "update", needs: "config", host: h.host },
      onclick: () => update([h.host]) }),
    ...hostActions(h)];
}

function hostRow(h, label) {
  const counts = {};
  for (const p of h.processes) counts[p.state] = (counts[p.state] || 0) + 1;
  const text = h.error !== null ? "unreachable" :
    Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(", ") || "no processes";
  return el("tr", { className: "host-row", dataset: { hostrow: label || h.host } },
    el("td", { colSpan: S.resources ? 10 : 8 }, el("span", { text: label || h.host }),
      label ? null : el("span", { className: "groups", text: (h.groups || []).join(" ") }),
      el("span", { className: "hostcounts", text }),
      h.resources_error ? el("span", { className: "resnote", text: ` ${h.resources_error}` }) : null,
      " ", ...(label ? [] : hostButtons(h))));
}

// Per host: restart all (act), reload and shutdown of its supervisord (config), avail (see).  Each says what it
// needs (data-needs) and where (data-host); a host that is unreachable, or where the user lacks the ability,
// has the button disabled (and every change under --read-only).  The server asks to confirm, naming the host
// (409), and refuses with a sentence (403).
function hostActions(h) {
  const can = (ability) => h.error === null && (S.abilities[h.host] || []).includes(ability) &&
    (ability === "see" || !S.readOnly);
  const button = (text, needs, onclick, title) => el("button", { text, title, className: "small act",
    disabled: !can(needs), dataset: { act: text.replace(" ", "-"), needs, host: h.host }, onclick });
  return [
    button("restart all", "act", () => control("restart", [{ host: h.host, name: "all" }]),
      "restart every process of this host (asks first)"),
    button("avail", "see", () => avail(h.host), "the configured processes (herd avail)"),
    button("reload", "config", () => supervisord("reload", h.host),
      "restart supervisord and every process (asks first; waits until it answers again)"),
    button("shutdown", "config", () => supervisord("shutdown", h.host),
      "stop supervisord and every process: nothing restarts it but you (asks first)")];
}

async function supervisord(action, host) {
  showResult([`${action} ${host}: waiting for the confirmation ...`]);
  const data = await post("/api/supervisord", { action, hosts: [host] });
  if (data) showResult(data.lines);
}

async function avail(host) {
  const params = new URLSearchParams({ hosts: host });
  const env = new URLSearchParams(location.search).get("env");
  if (env) params.set("env", env);
  const response = await fetch(`/api/avail?${params}`, { credentials: "same-origin" });
  let data = {};
  try { data = await response.json(); } catch (e) { data = { error: `HTTP ${response.status}` }; }
  if (!response.ok) { showResult([response.status === 403 ? data.error : `herd: ${data.error}`], true); return; }
  await ask(`avail on ${host}`, { detail: el("pre", { className: "avail", text: data.lines.join("\n") }), go: false });
}

function render() {
  const body = $("rows");
  const rows = rowsOf();
  const layout = $("layout").value;
  const frag = document.createDocumentFragment();
  const add = (r) => frag.append(r.p ? processRow(r.host, r.p) : errorRow(r.host));
  if (layout === "flat") {
    rows.forEach(add);
  } else if (layout === "host") {
    const byHost = new Map();
    for (const r of rows) (byHost.get(r.host.host) || byHost.set(r.host.host, []).get(r.host.host)).push(r);
    for (const [name, list] of byHost) { frag.append(hostRow(S.hosts.get(name))); list.forEach(add); }
  } else {
    const names = Object.keys(S.groups);
    for (const g of names) {
      const list = rows.filter((r) => (r.host.groups || []).includes(g));
      if (!list.length) continue;
      frag.append(hostRow({ processes: list.filter((r) => r.p).map((r) => r.p), error: null }, `group ${g}`));
      list.forEach(add);
    }
    const loose = rows.filter((r) => !(r.host.groups || []).length);
    if (loose.length) { frag.append(hostRow({ processes: [], error: null }, "no group")); loose.forEach(add); }
  }
  body.replaceChildren(frag);
  renderCounts();
  renderHealth();
  renderPrograms();
  updateSelected();
  applyAbilities();
  document.querySelectorAll("#fleet th[data-sort]").forEach((th) => {
    th.classList.toggle("sorted", th.dataset.sort === S.sort.key);
    th.classList.toggle("desc", th.dataset.sort === S.sort.key && S.sort.desc);
  });
}

function renderCounts() {
  const counts = {};
  let processes = 0, down = 0;
  for (const h of S.hosts.values()) {
    if (h.error !== null) { down++; continue; }
    for (const p of h.processes) { counts[p.state] = (counts[p.state] || 0) + 1; processes++; }
  }
  const parts = Object.entries(counts).sort((a, b) => (a[0] !== "RUNNING") - (b[0] !== "RUNNING") ||
    a[0].localeCompare(b[0]));
  $("counts").replaceChildren(...parts.map(([s, n]) => el("span", { className: `state-${s}`, text: `${n} ${s}` })),
    ...(down ? [el("span", { className: "state-UNREACHABLE", text: `${down} UNREACHABLE` })] : []));
  $("summary").textContent = `${S.hosts.size} hosts, ${processes} processes` +
    (parts.length ? ": " + parts.map(([s, n]) => `${n} ${s}`).join(", ") : "") +
    (down ? `; ${down} host${down === 1 ? "" : "s"} unreachable` : "");
}

// The programs that exist (the groups of the processes shown), offered by the roll form and the log view.
function renderPrograms() {
  const programs = new Set(), names = new Set();
  for (const h of S.hosts.values()) for (const p of h.processes) { programs.add(p.group); names.add(p.name); }
  const sorted = [...programs].sort();
  const key = sorted.join("\u0000") + "\u0001" + [...names].sort().join("\u0000");
  if (S.programsKey === key) return;
  S.programsKey = key;
  S.programs = sorted;
  $("roll-programs").replaceChildren(...sorted.map((g) => el("option", { value: g })));
  $("process-names").replaceChildren(...[...new Set([...sorted, ...names])].sort().map((n) => el("option", { value: n })));
  checkRollName();
}

function updateSelected() {
  $("selected-count").textContent = `${S.selected.size} selected`;
  document.querySelectorAll("button.sel").forEach((b) => {
    b.disabled = S.selected.size === 0;
    b.title = S.selected.size ? "" : "tick processes first";
  });
}

function tickUptimes() {
  const now = Date.now();
  document.querySelectorAll("#rows td.uptime[data-base]").forEach((td) => {
    td.textContent = uptimeText(Number(td.dataset.base) + (now - Number(td.dataset.at)) / 1000);
  });
}

// -- talking to the server ----------------------------------------------------------------

// The confirmation: a question, optionally a node below it (update's plan), and "go on" unless go is false
// (then the only button is "close").  Escape is cancel.
function ask(question, extra) {
  const detail = (extra && extra.detail) || null, go = !extra || extra.go !== false;
  return new Promise((resolve) => {
    const dialog = $("confirm");
    $("confirm-text").textContent = question;
    $("confirm-detail").replaceChildren(...(detail ? [detail] : []));
    $("confirm-detail").hidden = !detail;
    $("confirm-yes").hidden = !go;
    $("confirm-no").textContent = go ? "cancel" : "close";
    const done = (answer) => {
      $("confirm-yes").onclick = $("confirm-no").onclick = dialog.oncancel = null;
      dialog.close();
      resolve(answer);
    };
    $("confirm-yes").onclick = () => done(true);
    $("confirm-no").onclick = () => done(false);
    dialog.oncancel = (e) => { e.preventDefault(); done(false); };
    dialog.showModal();
  });
}

function showResult(lines, isError) {
  $("result-box").hidden = false;
  $("result").textContent = lines.join("\n");
  $("result").classList.toggle("state-FATAL", !!isError);
}

async function post(path, body) {
  const response = await fetch(api(path), {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": S.csrf || "" }, body: JSON.stringify(body),
  });
  let data = {};
  try { data = await response.json(); } catch (e) { data = { error: `HTTP ${response.status}` }; }
  if (response.status === 409 && data.confirm) {
    if (await ask(data.error)) return post(path, Object.assign({}, body, { confirm: true }));
    showResult(["cancelled: nothing was changed"]);
    return null;
  }
  if (!response.ok) {   // a 403 is a refusal: its sentence as it is ("bob may not restart on web01: ...")
    showResult([response.status === 403 && data.error ? data.error : `herd: ${data.error || response.status}`], true);
    return null;
  }
  return data;
}

async function control(action, targets) {
  showResult([`${action}: working ...`]);
  const body = { action, targets };
  if (action === "signal") body.signal = $("signal-name").value;
  const data = await post("/api/control", body);
  if (data) showResult(data.lines.concat(data.errors || []));
  return data;
}

// The toolbar's buttons act on the ticked processes; once the action is done, nothing stays ticked.
async function controlSelected(action) {
  const data = await control(action, selectedTargets());
  if (data) {
    S.selected.clear();
    $("select-all").checked = false;
    schedule();
  }
}

function selectedTargets() {
  return [...S.selected].map((k) => { const [host, name] = k.split("\u0000"); return { host, name }; });
}

async function config(action, hosts) {
  showResult([`${action}: working ...`]);
  const data = await post("/api/config", { action, hosts });
  if (data) showResult(data.lines);
}

// update's plan, per host: what it would add, bounce (changed), stop and remove; a host whose config does
// not parse or that did not answer says so.  The server escaped host text; it goes in with textContent.
function planNode(plan) {
  return el("div", { className: "plan" }, ...plan.hosts.map((h) =>
    el("div", { className: `plan-host plan-${h.state}`, dataset: { host: h.host, state: h.state } },
      el("span", { className: "plan-name", text: h.host }),
      el("ul", { className: "plan-lines" }, ...h.lines.map((line) => el("li", { text: line }))),
      h.bounces.length ? el("ul", { className: "plan-warnings" },
        ...h.bounces.map((b) => el("li", { text: b.warning }))) : null)));
}

// The Update button: read the plan (herd update --dry-run), show it, and on "go on" run update with the same
// hosts and groups; update reads the config again and applies that, and says so if it is not this plan.
async function update(hosts) {
  if (!hosts.length) { showResult(["update: no host is shown (see the filters)"], true); return; }
  const where = hosts.length === 1 ? hosts[0] : `${hosts.length} hosts`;
  showResult([`update on ${where}: reading the config ...`]);
  const plan = await post("/api/config/plan", { hosts });
  if (!plan) return;
  if (!plan.changes) {
    await ask(`update on ${where}: ${plan.summary}`, { detail: planNode(plan), go: false });
    showResult([`update on ${where}: ${plan.summary}; nothing was changed`]);
    return;
  }
  if (!await ask(`update on ${where}: ${plan.summary}. Go on?`, { detail: planNode(plan) })) {
    showResult(["cancelled: nothing was changed"]);
    return;
  }
  showResult([`update on ${where}: working ...`]);
  const data = await post("/api/config", { action: "update", hosts, groups: plan.groups, plan: plan.plan_id,
    confirm: true });
  if (data) showResult((data.notes || []).concat(data.lines));
}

// -- rolling restart ------------------------------------------------------------------------

function formBody(form) {
  const body = {};
  for (const input of form.elements) {
    if (!input.name) continue;
    if (input.type === "checkbox") body[input.name] = input.checked;
    else if (input.type === "number") body[input.name] = input.value === "" ? null : Number(input.value);
    else body[input.name] = input.value.trim();
  }
  return body;
}

// The form's roll: a rolling restart of a program, or a rolling update of pending config (GROUPs, or all).
function rollBody() {
  const body = formBody($("roll-form"));
  const kind = body.kind;
  delete body.kind;
  if (kind === "update") {
    body.update = true;
    body.groups = (body.name || "").split(/[\s,]+/).filter((g) => g);
    delete body.name;
  }
  return body;
}

function showRollKind() {
  const update = $("roll-kind").value === "update";
  $("roll-name-label").textContent = update ? "groups (empty: all changed)" : "program";
  $("roll-start").textContent = update ? "start rolling update" : "start rolling restart";
}

// The roll form's program is one of the programs that exist (rolling-restart also takes program:process);
// a rolling update's groups may be new ones, so they are only offered, not checked.
function checkRollName() {
  const input = $("roll-name");
  const value = input.value.trim();
  const program = value.split(":", 1)[0];
  const known = S.programs || [];
  const bad = $("roll-kind").value === "restart" && value && !known.includes(program);
  input.setCustomValidity(bad ? `no program ${program} on these hosts: choose one of ${known.join(", ") || "(none yet)"}` : "");
}

async function startRoll(event) {
  event.preventDefault();
  checkRollName();
  if (!$("roll-form").reportValidity()) return;
  const body = rollBody();
  const hosts = shownHosts();
  if (hosts.length !== S.order.length) body.hosts = hosts;
  const data = await post("/api/roll", body);
  if (data) { showResult(data.plan); refreshRoll(); }
}

let rollFetching = false, rollAgain = false;
async function refreshRoll() {
  if (rollFetching) { rollAgain = true; return; }
  rollFetching = true;
  try {
    const response = await fetch(api("/api/roll"), { credentials: "same-origin" });
    if (response.ok) renderRoll(await response.json());
  } finally {
    rollFetching = false;
    if (rollAgain) { rollAgain = false; refreshRoll(); }
  }
}

function renderRoll(data) {
  const roll = data.roll;
  if (!roll) return;
  if (roll.hidden) {     // a roll touching hosts this user does not see: that it runs, nothing of where
    $("roll-state").textContent = `${roll.update ? "rolling update" : "rolling restart"} of ${roll.name}: ` +
      `${roll.state}, on hosts you do not all see`;
    $("roll-state").dataset.state = roll.state;
    $("roll-interrupt").disabled = true;
    $("roll-hosts").tBodies[0].replaceChildren();
    $("roll-log").textContent = "";
    return;
  }
  const batch = roll.batch ? `batch ${roll.batch.index}/${roll.batch.total}` : "pre-flight done";
  const done = roll.report ? `${roll.report.outcome} (exit ${roll.report.exit_code})` : roll.state;
  $("roll-state").textContent = `${roll.update ? "rolling update" : "rolling restart"} of ${roll.name}: ${done}, ${batch}`;
  $("roll-state").dataset.state = roll.state;
  $("roll-interrupt").disabled = roll.state !== "running";
  const rows = Object.entries(roll.hosts).map(([host, h]) => el("tr", { dataset: { host } },
    el("td", { text: host }), el("td", { className: "roll-status", text: h.status || "" }),
    el("td", { className: "roll-phase", text: h.process && h.phase ? `${h.process}: ${h.phase}` : "" }),
    el("td", { text: (h.done || []).map((d) => `${d.name} ${d.ok ? "ok" : "FAILED"}`).join(", ") }),
    el("td", { className: "state-FATAL", text: h.error || "" })));
  $("roll-hosts").tBodies[0].replaceChildren(...rows);
  const lines = roll.plan.concat(data.events.map((e) => e.text).filter((t) => t));
  if (roll.report) lines.push("", ...roll.report.lines);
  $("roll-log").textContent = lines.join("\n");
  $("roll-log").scrollTop = $("roll-log").scrollHeight;
}

// -- logs ------------------------------------------------------------------------------------

function shownHosts() {
  const seen = new Set(rowsOf().map((r) => r.host.host));
  return S.order.filter((h) => seen.has(h));
}

function logParams() {
  const b = formBody($("logs-form"));
  const hosts = b.hosts ? b.hosts.split(/[\s,]+/).filter(Boolean) : shownHosts();
  return { name: b.name, channel: b.channel, lines: String(b.lines ?? 20), hosts: hosts.join(",") };
}

// A stable colour per host: its place in the inventory (the session's hosts), over a small palette.
function hostColour(host) {
  const index = S.sessionHosts.indexOf(host);
  if (index >= 0) return index % HOST_COLOURS;
  let hash = 0;
  for (const c of host) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return hash % HOST_COLOURS;
}

function linePrefix(item) {
  return item.host ? `${item.host}${item.source ? " " + item.source : ""} | ` : "";
}

function lineMatches(item) {
  return !LOG.search || (linePrefix(item) + item.text).toLowerCase().includes(LOG.search);
}

// Text with the search's matches in <mark>s, built node by node (never innerHTML).
function marked(text) {
  if (!LOG.search) return [text];
  const lower = text.toLowerCase(), out = [];
  let at = 0;
  for (let hit = lower.indexOf(LOG.search); hit >= 0; hit = lower.indexOf(LOG.search, at)) {
    if (hit > at) out.push(text.slice(at, hit));
    out.push(el("mark", { text: text.slice(hit, hit + LOG.search.length) }));
    at = hit + LOG.search.length;
  }
  if (at < text.length) out.push(text.slice(at));
  return out;
}

function lineNode(item) {
  const note = item.kind && item.kind !== "line";
  const colour = item.host ? ` host-c${hostColour(item.host)}` : "";
  item.node = el("div", { className: (note ? "note" : "line") + colour, dataset: item.host ? { host: item.host } : {} },
    el("span", { className: "prefix" }, ...marked(linePrefix(item))), el("span", { className: "text" }, ...marked(item.text)));
  return item.node;
}

function atEnd(box) {
  return box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
}

// New lines: kept (at most LOG_KEEP, the oldest dropped), drawn when they match the search; while paused they
// wait in `pending` (bounded too) and the bar says how many.
function addLines(items) {
  if (!items.length) return;
  if (LOG.paused) {
    LOG.pending.push(...items);
    if (LOG.pending.length > LOG_KEEP) LOG.missed += LOG.pending.splice(0, LOG.pending.length - LOG_KEEP).length;
    renderLogBar();
    return;
  }
  const box = $("logs");
  const follow = atEnd(box);
  LOG.lines.push(...items);
  const drop = LOG.lines.length - LOG_KEEP;
  if (drop > 0) for (const old of LOG.lines.splice(0, drop)) if (old.node) old.node.remove();
  box.append(...items.filter(lineMatches).map(lineNode));
  if (follow) box.scrollTop = box.scrollHeight;
  renderLogBar();
}

function drawLines() {
  const box = $("logs");
  for (const item of LOG.lines) item.node = null;
  box.replaceChildren(...LOG.lines.filter(lineMatches).map(lineNode));
  box.scrollTop = box.scrollHeight;
  renderLogBar();
}

function clearLines() {
  LOG.lines = [];
  LOG.pending = [];
  LOG.missed = 0;
  $("logs").replaceChildren();
  renderLogBar();
}

function renderLogBar() {
  const shown = LOG.search ? LOG.lines.filter(lineMatches).length : LOG.lines.length;
  $("logs-count").textContent = LOG.search ? `${shown} of ${LOG.lines.length} lines match` : `${LOG.lines.length} lines`;
  const pending = LOG.pending.length;
  $("logs-pending").hidden = !LOG.paused;
  $("logs-pending").textContent = `${pending} new line${pending === 1 ? "" : "s"}` +
    (LOG.missed ? ` (${LOG.missed} older ones dropped)` : "");
  $("logs-pause").textContent = LOG.paused ? "resume" : "pause";
  $("logs-pause").classList.toggle("on", LOG.paused);
}

function togglePause() {
  LOG.paused = !LOG.paused;
  if (!LOG.paused) {
    const waiting = LOG.pending;
    LOG.pending = [];
    LOG.missed = 0;
    LOG.lines.push(...waiting);
    if (LOG.lines.length > LOG_KEEP) LOG.lines.splice(0, LOG.lines.length - LOG_KEEP);
    drawLines();
  }
  renderLogBar();
}

function searchLines() {
  LOG.search = $("logs-search").value.toLowerCase();
  drawLines();
  writeURL();
}

// The shown lines (those matching the search) as a text file, as they read on screen.
function downloadLines() {
  const text = LOG.lines.filter(lineMatches).map((item) => linePrefix(item) + item.text).join("\n");
  const blob = new Blob([text ? text + "\n" : ""], { type: "text/plain;charset=utf-8" });
  const name = (formBody($("logs-form")).name || "logs").replace(/[^A-Za-z0-9._-]+/g, "_");
  const stamp = new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
  const link = el("a", { href: URL.createObjectURL(blob), download: `herd-${S.env || "default"}-${name}-${stamp}.txt` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

// The files a "file" read takes (the inventory's logs:, filled per process), listed above the lines.
async function showLogFiles() {
  const box = $("logs-files");
  if (formBody($("logs-form")).channel !== "file") { box.hidden = true; return; }
  const params = logParams();
  delete params.channel; delete params.lines;
  const response = await fetch(api("/api/logs/files", params), { credentials: "same-origin" });
  const data = await response.json();
  const rows = response.ok ? data.hosts.flatMap((h) => h.files.length ? h.files.map((f) =>
    el("li", { text: `${h.host} ${f.process}: ${f.path || f.error}` })) :
    [el("li", { text: `${h.host}: ${h.error || (h.polled ? "no log file of its own under logs:" : "not read yet")}` })])
    : [el("li", { text: `herd: ${data.error}` })];
  box.replaceChildren(el("span", { text: "log files: " }), el("ul", {}, ...rows));
  box.hidden = false;
}

async function tailLogs(event) {
  if (event) event.preventDefault();
  stopFollow();
  writeURL();
  showLogFiles();
  const response = await fetch(api("/api/logs", logParams()), { credentials: "same-origin" });
  const data = await response.json();
  clearLines();
  if (!response.ok) { addLines([{ kind: "note", text: `herd: ${data.error}` }]); return; }
  addLines(data.lines.concat(data.notes.map((n) => Object.assign({ kind: "note" }, n))));
  $("logs").scrollTop = $("logs").scrollHeight;
}

function followLogs() {
  stopFollow();
  if (!formBody($("logs-form")).name) { $("logs-form").reportValidity(); return; }
  writeURL();
  showLogFiles();
  clearLines();
  const source = new EventSource(api("/api/logs/follow", logParams()));
  S.follow = source;
  $("logs-stop").disabled = false;
  $("logs").dataset.following = "1";
  source.addEventListener("lines", (e) => addLines(JSON.parse(e.data)));
  source.addEventListener("end", (e) => { addLines([{ kind: "note", text: JSON.parse(e.data).text }]); stopFollow(); });
  source.onerror = () => { if (source.readyState === EventSource.CLOSED) { addLines([{ kind: "note", text: "follow refused" }]); stopFollow(); } };
}

function stopFollow() {
  if (S.follow) S.follow.close();
  S.follow = null;
  $("logs-stop").disabled = true;
  delete $("logs").dataset.following;
}

// A row's "logs": that process on that host, followed in the Logs view (a URL of its own).
function openLogs(host, name, channel) {
  const form = $("logs-form");
  form.elements.name.value = name;
  form.elements.channel.value = channel;
  form.elements.hosts.value = host;
  showView("logs", true);
  followLogs();
}

// -- health ------------------------------------------------------------------------------------

// The badge and the Health view, from the last health event: graded from the same poll as the table.
function renderHealth() {
  const data = S.health;
  if (!data) return;
  $("health-badge").textContent = data.status;
  $("health-badge").className = `badge ${data.status}`;
  $("health-badge").title = `${data.status}: ${data.summary} (open the Health view)`;
  $("health-summary").textContent = `${data.status}: ${data.summary}`;
  $("health-problems").replaceChildren(...data.problems.map((p) => el("li", { dataset: { host: p.host } },
    el("span", { className: `state-${p.severity === "CRITICAL" ? "FATAL" : "STOPPED"}`, text: p.severity }),
    ` ${p.host}${p.process ? " " + p.process : ""}: `, el("span", { text: p.reason }))));
  $("health-expect").replaceChildren(...(data.expect.length ? data.expect.map((e) => el("li", {
    text: `expect.${e.target} (${e.hosts.join(", ")}): running ${e.running.join(", ") || "-"}` +
      (e.min_uptime ? `, min_uptime ${e.min_uptime}s` : "") })) : [el("li", { text: "none in the inventory" })]));
}

// -- views and the URL -------------------------------------------------------------------------

function viewExists(name) {
  return Boolean(document.querySelector(`section.view[data-view="${name}"]`));
}

// Show one view; `push`: a history entry of its own (back returns to the previous view).
function showView(name, push) {
  if (!VIEWS.includes(name) || !viewExists(name)) name = "processes";
  S.view = name;
  document.querySelectorAll("section.view").forEach((section) => { section.hidden = section.dataset.view !== name; });
  document.querySelectorAll("#nav button[data-view]").forEach((b) => {
    if (b.dataset.view === name) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  });
  document.body.dataset.view = name;
  writeURL(push);
  document.dispatchEvent(new CustomEvent("herd:view", { detail: { view: name } }));
}

// The current view's state as the URL's query (history.replaceState, or pushState for a new view).
function writeURL(push) {
  const params = new URLSearchParams(location.search);
  params.delete("view");
  for (const keys of Object.values(URL_KEYS)) for (const key of keys) params.delete(key);
  if (S.env && S.envs.length > 1) params.set("env", S.env);
  if (S.view !== "processes") params.set("view", S.view);
  const values = viewState();
  for (const key of URL_KEYS[S.view] || []) if (values[key]) params.set(key, values[key]);
  const text = params.toString();
  const url = text ? `?${text}` : location.pathname;
  if (url === location.search || (!text && !location.search)) return;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}

function viewState() {
  if (S.view === "logs") {
    const form = $("logs-form").elements;
    return { host: form.hosts.value.trim(), program: form.name.value.trim(),
             channel: form.channel.value === "stdout" ? "" : form.channel.value, q: $("logs-search").value };
  }
  if (S.view === "rolls") return { program: $("roll-name").value.trim() };
  if (S.view === "processes") {
    return { host: $("filter-host").value, group: $("filter-group").value, state: $("filter-state").value,
             q: $("filter-text").value, layout: $("layout").value === "host" ? "" : $("layout").value,
             sort: S.sort.key === "host" && !S.sort.desc ? "" : (S.sort.desc ? "-" : "") + S.sort.key };
  }
  return {};
}

function setValue(node, value) {
  if (node.tagName === "SELECT" && value && ![...node.options].some((o) => o.value === value)) return;
  node.value = value;
}

// The URL's view and filters into the page (at load, and on back/forward).
function readURL() {
  const params = new URLSearchParams(location.search);
  const get = (key) => params.get(key) || "";
  const view = get("view") || "processes";
  if (view === "processes") {
    setValue($("filter-host"), get("host"));
    setValue($("filter-group"), get("group"));
    setValue($("filter-state"), get("state"));
    $("filter-text").value = get("q");
    setValue($("layout"), get("layout") || "host");
    const sort = get("sort") || "host";
    S.sort = { key: sort.replace(/^-/, ""), desc: sort.startsWith("-") };
  } else if (view === "logs") {
    const form = $("logs-form").elements;
    form.hosts.value = get("host");
    form.name.value = get("program");
    setValue(form.channel, get("channel") || "stdout");
    $("logs-search").value = get("q");
    LOG.search = get("q").toLowerCase();
  } else if (view === "rolls") {
    $("roll-name").value = get("program");
  }
  showView(view, false);
  schedule();
  if (view === "logs" && get("program") && !S.follow) followLogs();
}

// Another environment: the same view in it (its own hosts: the host/group/program filters are dropped).
function switchEnv(name) {
  const params = new URLSearchParams(location.search);
  for (const key of ["host", "group", "program"]) params.delete(key);
  params.set("env", name);
  location.assign(`?${params}`);
}

// -- start ---------------------------------------------------------------------------------------

function connect() {
  const events = new EventSource(api("/api/events"));
  events.onopen = () => { $("live").textContent = "live"; $("live").classList.remove("off"); };
  events.onerror = () => { $("live").textContent = "reconnecting"; $("live").classList.add("off"); };
  events.addEventListener("snapshot", (e) => takeSnapshot(JSON.parse(e.data)));
  events.addEventListener("host", (e) => { takeHost(JSON.parse(e.data)); schedule(); });
  events.addEventListener("health", (e) => { S.health = JSON.parse(e.data); schedule(); });
  events.addEventListener("roll-status", (e) => renderRoll(JSON.parse(e.data)));
  events.addEventListener("roll", () => refreshRoll());
}

function noSession(text) {
  const first = new URLSearchParams(location.search);
  first.delete("env");
  document.body.replaceChildren(el("p", { text }), el("p", {}, el("a", { href: `/?${first}`, text: "open the first environment" })));
}

async function init() {
  S.env = new URLSearchParams(location.search).get("env");
  const response = await fetch(api("/api/session"), { credentials: "same-origin" });
  if (!response.ok) {
    let why = "herd web: no session: open the URL herd web printed.";
    if (response.status === 400) {     // an environment that is not here: the way back to the first
      try { why = `herd web: ${(await response.json()).error}`; } catch (e) { /* the sentence above */ }
      noSession(why);
    } else {                            // no session, or a user the team file gives nothing: the server's sentence
      const refused = await response.json().catch(() => ({}));
      document.body.textContent = refused.error || why;
    }
    return;
  }
  const session = await response.json();
  S.env = session.env;
  S.envs = session.envs || [];
  S.user = (session.user && session.user.name) || "";
  S.abilities = session.abilities || {};
  S.csrf = session.csrf;
  S.readOnly = session.read_only;
  S.groups = session.groups;
  S.sessionHosts = session.hosts;
  S.logs = session.logs || {};
  S.resources = Boolean(session.resources);
  $("env-box").hidden = S.envs.length < 2;
  $("env").replaceChildren(...S.envs.map((name) => el("option", { value: name, text: name })));
  $("env").value = S.env;
  $("env").addEventListener("change", () => switchEnv($("env").value));
  document.title = S.envs.length > 1 ? `herd: ${S.env}` : "herd";
  document.querySelectorAll("#fleet th.res").forEach((th) => { th.hidden = !S.resources; });
  document.body.classList.toggle("read-only", S.readOnly);
  $("readonly").hidden = !S.readOnly;
  $("roll-form").hidden = S.readOnly;
  for (const h of session.hosts) $("filter-host").append(el("option", { value: h, text: h }));
  for (const g of Object.keys(session.groups)) $("filter-group").append(el("option", { value: g, text: g }));
  $("host-names").replaceChildren(...session.hosts.map((h) => el("option", { value: h })));
  for (const id of ["filter-text", "filter-host", "filter-group", "filter-state", "layout"]) {
    for (const kind of ["input", "change"]) $(id).addEventListener(kind, () => { schedule(); writeURL(); });
  }
  document.querySelectorAll("#fleet th[data-sort]").forEach((th) => th.addEventListener("click", () => {
    S.sort = { key: th.dataset.sort, desc: S.sort.key === th.dataset.sort ? !S.sort.desc : false };
    schedule();
    writeURL();
  }));
  $("select-all").addEventListener("change", (e) => {
    for (const r of rowsOf()) if (r.p && !cannot("act", r.host.host)) {
      const key = r.host.host + "\u0000" + r.p.name;
      e.target.checked ? S.selected.add(key) : S.selected.delete(key);
    }
    schedule();
  });
  document.querySelectorAll("button.sel").forEach((b) => b.addEventListener("click", () =>
    controlSelected(b.dataset.action)));
  $("update-shown").addEventListener("click", () => update(shownHosts()));
  $("result-close").addEventListener("click", () => { $("result-box").hidden = true; });
  $("roll-form").addEventListener("submit", startRoll);
  $("roll-kind").addEventListener("change", () => { showRollKind(); checkRollName(); });
  $("roll-name").addEventListener("input", () => { checkRollName(); writeURL(); });
  $("roll-interrupt").addEventListener("click", async () => {
    const data = await post("/api/roll/interrupt", {});
    if (data) showResult([data.message]);
  });
  $("logs-form").addEventListener("submit", tailLogs);
  $("logs-follow").addEventListener("click", followLogs);
  $("logs-stop").addEventListener("click", stopFollow);
  $("logs-search").addEventListener("input", searchLines);
  $("logs-pause").addEventListener("click", togglePause);
  $("logs-download").addEventListener("click", downloadLines);
  $("health-badge").addEventListener("click", () => showView("health", true));
  document.querySelectorAll("#nav button[data-view]").forEach((b) => {
    b.hidden = !viewExists(b.dataset.view);
    b.addEventListener("click", () => showView(b.dataset.view, true));
  });
  window.addEventListener("popstate", readURL);
  readURL();
  renderLogBar();
  connect();
  setInterval(tickUptimes, 1000);       // uptimes move on, in place (rows are rebuilt only on a change)
}

document.addEventListener("DOMContentLoaded", init);
