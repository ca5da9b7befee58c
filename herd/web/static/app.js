// herd web: the page.  Host data is only ever put in the DOM with textContent
// (never innerHTML): a process named <img src=x onerror=...> shows as text.
"use strict";

const $ = (id) => document.getElementById(id);
const S = {
  csrf: null, readOnly: false, hosts: new Map(), order: [], groups: {}, selected: new Set(),
  sort: { key: "host", desc: false }, seen: new Map(), rendering: false, follow: null, roll: null,
  logs: {},   // host -> {program: path template}: the inventory's logs:
  resources: false,   // herd web --resources: RSS and CPU% columns
  abilities: {},      // host -> ["see", "act", "roll", "config"]: what this user may do there (the team file)
};
window.herdSeen = [];   // {host, name, state, t}: when the page first showed each state (for the benchmark)

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
  schedule();
}

function schedule() {
  if (S.rendering) return;
  S.rendering = true;
  requestAnimationFrame(() => { S.rendering = false; render(); });
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
  const box = el("input", { type: "checkbox", checked: S.selected.has(key),
    onchange: (e) => { e.target.checked ? S.selected.add(key) : S.selected.delete(key); updateSelected(); } });
  box.setAttribute("aria-label", `select ${h.host} ${p.name}`);
  const running = p.state === "RUNNING";
  const uptime = running && p.uptime !== null ? p.uptime + (Date.now() - h.receivedAt) / 1000 : null;
  const description = p.spawnerr || (running ? "" : p.description);
  const act = (action) => el("button", { text: action, className: "act", dataset: { act: action },
    onclick: () => control(action, [{ host: h.host, name: p.name }]) });
  const logs = el("button", { text: "logs", dataset: { act: "logs" }, onclick: () => showLogs(h.host, p.name, "stdout") });
  const own = (S.logs[h.host] || {});
  const file = own[p.group] || own[p.process] ? el("button", { text: "log file", dataset: { act: "logfile" },
    title: "the program's own log file (logs: in the inventory)", onclick: () => showLogs(h.host, p.name, "file") }) : null;
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

function hostRow(h, label) {
  const counts = {};
  for (const p of h.processes) counts[p.state] = (counts[p.state] || 0) + 1;
  const text = h.error !== null ? "unreachable" :
    Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(", ") || "no processes";
  const hostButtons = label ? [] : [
    el("button", { text: "reread", className: "small act", onclick: () => config("reread", [h.host]) }),
    el("button", { text: "update", className: "small act", dataset: { act: "update" },
      onclick: () => update([h.host]) }),
    ...hostActions(h)];
  return el("tr", { className: "host-row", dataset: { hostrow: label || h.host } },
    el("td", { colSpan: S.resources ? 10 : 8 }, el("span", { text: label || h.host }),
      label ? null : el("span", { className: "groups", text: (h.groups || []).join(" ") }),
      el("span", { className: "hostcounts", text }),
      h.resources_error ? el("span", { className: "resnote", text: ` ${h.resources_error}` }) : null,
      " ", ...hostButtons));
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
  const view = $("view").value;
  const frag = document.createDocumentFragment();
  const add = (r) => frag.append(r.p ? processRow(r.host, r.p) : errorRow(r.host));
  if (view === "flat") {
    rows.forEach(add);
  } else if (view === "host") {
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
  updateSelected();
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

function updateSelected() {
  $("selected-count").textContent = `${S.selected.size} selected`;
  document.querySelectorAll("button.sel").forEach((b) => { b.disabled = S.selected.size === 0; });
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
  const response = await fetch(path, {
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

async function startRoll(event) {
  event.preventDefault();
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
    const response = await fetch("/api/roll", { credentials: "same-origin" });
    if (response.ok) renderRoll(await response.json());
  } finally {
    rollFetching = false;
    if (rollAgain) { rollAgain = false; refreshRoll(); }
  }
}

function renderRoll(data) {
  const roll = data.roll;
  if (!roll) return;
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
  return new URLSearchParams({ name: b.name, channel: b.channel, lines: String(b.lines ?? 20), hosts: hosts.join(",") });
}

function logLine(item) {
  const box = $("logs");
  const prefix = item.host ? `${item.host}${item.source ? " " + item.source : ""} | ` : "";
  const line = el("div", { className: item.kind && item.kind !== "line" ? "note" : "line" },
    el("span", { className: "prefix", text: prefix }), el("span", { className: "text", text: item.text }));
  box.append(line);
  while (box.childElementCount > 5000) box.firstElementChild.remove();
}

// The files a "file" read takes (the inventory's logs:, filled per process), listed above the lines.
async function showLogFiles() {
  const box = $("logs-files");
  if (formBody($("logs-form")).channel !== "file") { box.hidden = true; return; }
  const params = logParams();
  params.delete("channel"); params.delete("lines");
  const response = await fetch("/api/logs/files?" + params, { credentials: "same-origin" });
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
  showLogFiles();
  const response = await fetch("/api/logs?" + logParams(), { credentials: "same-origin" });
  const data = await response.json();
  $("logs").replaceChildren();
  if (!response.ok) { logLine({ kind: "note", text: `herd: ${data.error}` }); return; }
  data.lines.forEach(logLine);
  data.notes.forEach((n) => logLine(Object.assign({ kind: "note" }, n)));
  $("logs").scrollTop = $("logs").scrollHeight;
}

function followLogs() {
  stopFollow();
  showLogFiles();
  $("logs").replaceChildren();
  const source = new EventSource("/api/logs/follow?" + logParams());
  S.follow = source;
  $("logs-stop").disabled = false;
  $("logs").dataset.following = "1";
  source.addEventListener("lines", (e) => {
    const box = $("logs");
    const atEnd = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
    JSON.parse(e.data).forEach(logLine);
    if (atEnd) box.scrollTop = box.scrollHeight;
  });
  source.addEventListener("end", (e) => { logLine({ kind: "note", text: JSON.parse(e.data).text }); stopFollow(); });
  source.onerror = () => { if (source.readyState === EventSource.CLOSED) { logLine({ kind: "note", text: "follow refused" }); stopFollow(); } };
}

function stopFollow() {
  if (S.follow) S.follow.close();
  S.follow = null;
  $("logs-stop").disabled = true;
  delete $("logs").dataset.following;
}

function showLogs(host, name, channel) {
  const form = $("logs-form");
  form.elements.name.value = name;
  form.elements.channel.value = channel;
  form.elements.hosts.value = host;
  $("logs-panel").open = true;
  followLogs();
  $("logs-panel").scrollIntoView();
}

// -- health ------------------------------------------------------------------------------------

async function refreshHealth() {
  const response = await fetch("/api/check", { credentials: "same-origin" });
  if (!response.ok) return;
  const data = await response.json();
  $("health-badge").textContent = data.status;
  $("health-badge").className = `badge ${data.status}`;
  $("health-summary").textContent = `${data.status}: ${data.summary}`;
  $("health-problems").replaceChildren(...data.problems.map((p) => el("li", {},
    el("span", { className: `state-${p.severity === "CRITICAL" ? "FATAL" : "STOPPED"}`, text: p.severity }),
    ` ${p.host}${p.process ? " " + p.process : ""}: `, el("span", { text: p.reason }))));
  $("health-expect").replaceChildren(...(data.expect.length ? data.expect.map((e) => el("li", {
    text: `expect.${e.target} (${e.hosts.join(", ")}): running ${e.running.join(", ") || "-"}` +
      (e.min_uptime ? `, min_uptime ${e.min_uptime}s` : "") })) : [el("li", { text: "none in the inventory" })]));
}

// -- start ---------------------------------------------------------------------------------------

function connect() {
  const events = new EventSource("/api/events");
  events.onopen = () => { $("live").textContent = "live"; $("live").classList.remove("off"); };
  events.onerror = () => { $("live").textContent = "reconnecting"; $("live").classList.add("off"); };
  events.addEventListener("snapshot", (e) => takeSnapshot(JSON.parse(e.data)));
  events.addEventListener("host", (e) => { takeHost(JSON.parse(e.data)); schedule(); });
  events.addEventListener("roll-status", (e) => renderRoll(JSON.parse(e.data)));
  events.addEventListener("roll", () => refreshRoll());
}

async function init() {
  const response = await fetch("/api/session", { credentials: "same-origin" });
  if (!response.ok) {   // no session, or a user the team file gives nothing: the server's sentence
    const refused = await response.json().catch(() => ({}));
    document.body.textContent = refused.error || "herd web: no session: open the URL herd web printed.";
    return;
  }
  const session = await response.json();
  S.csrf = session.csrf;
  S.readOnly = session.read_only;
  S.groups = session.groups;
  S.logs = session.logs || {};
  S.resources = Boolean(session.resources);
  S.abilities = session.abilities || {};
  document.querySelectorAll("#fleet th.res").forEach((th) => { th.hidden = !S.resources; });
  document.body.classList.toggle("read-only", S.readOnly);
  $("readonly").hidden = !S.readOnly;
  $("roll-panel").hidden = S.readOnly;
  for (const h of session.hosts) $("filter-host").append(el("option", { value: h, text: h }));
  for (const g of Object.keys(session.groups)) $("filter-group").append(el("option", { value: g, text: g }));
  for (const id of ["filter-text", "filter-host", "filter-group", "filter-state", "view"]) {
    $(id).addEventListener("input", schedule);
  }
  document.querySelectorAll("#fleet th[data-sort]").forEach((th) => th.addEventListener("click", () => {
    S.sort = { key: th.dataset.sort, desc: S.sort.key === th.dataset.sort ? !S.sort.desc : false };
    schedule();
  }));
  $("select-all").addEventListener("change", (e) => {
    for (const r of rowsOf()) if (r.p) {
      const key = r.host.host + "\u0000" + r.p.name;
      e.target.checked ? S.selected.add(key) : S.selected.delete(key);
    }
    schedule();
  });
  document.querySelectorAll("button.sel").forEach((b) => b.addEventListener("click", () =>
    control(b.dataset.action, selectedTargets())));
  $("update-shown").addEventListener("click", () => update(shownHosts()));
  $("result-close").addEventListener("click", () => { $("result-box").hidden = true; });
  $("roll-form").addEventListener("submit", startRoll);
  $("roll-kind").addEventListener("change", showRollKind);
  $("roll-interrupt").addEventListener("click", async () => {
    const data = await post("/api/roll/interrupt", {});
    if (data) showResult([data.message]);
  });
  $("logs-form").addEventListener("submit", tailLogs);
  $("logs-follow").addEventListener("click", followLogs);
  $("logs-stop").addEventListener("click", stopFollow);
  connect();
  setInterval(tickUptimes, 1000);       // uptimes move on, in place (rows are rebuilt only on a change)
  refreshHealth();
  setInterval(refreshHealth, 5000);
}

document.addEventListener("DOMContentLoaded", init);
