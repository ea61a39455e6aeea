// The async-inspect dashboard: plain JS, no build step. Views are routes of
// the URL's hash; data comes from /api/v1 and is fetched again when the
// server says something changed (Server-Sent Events).
"use strict";

// A script error is shown on the page (and marked on <body> for tests),
// never swallowed.
function pageError(message) {
  document.body.dataset.errors = (document.body.dataset.errors || "") + message + "\n";
  let box = document.getElementById("page-error");
  if (!box) {
    box = document.createElement("div");
    box.id = "page-error";
    document.body.appendChild(box);
  }
  box.textContent = `The page hit an error: ${message}`;
}
window.addEventListener("error", (e) => pageError(e.message));
window.addEventListener("unhandledrejection", (e) => pageError(String(e.reason)));

const token = new URLSearchParams(location.search).get("token");
let status = null;
let fetchedAt = 0;

// Where the page is served (`/`, or the prefix a service nests it under).
const base = document.querySelector('meta[name="base"]')?.content || "/";

function url(path, params = {}) {
  const u = new URL(path, location.origin + base);
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, v);
  }
  if (token) u.searchParams.set("token", token);
  return u.toString();
}

async function api(path, params) {
  const response = await fetch(url(path, params));
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

function ms(n) {
  if (n >= 60000) return `${Math.floor(n / 60000)}m${String(Math.floor(n / 1000) % 60).padStart(2, "0")}s`;
  if (n >= 1000) return `${(n / 1000).toFixed(1)}s`;
  return `${Math.round(n)}ms`;
}

function nanos(d) {
  // A serde Duration: {secs, nanos}.
  return d ? d.secs * 1e9 + d.nanos : 0;
}

function sparkline(values) {
  if (!values || values.length < 2) return "";
  const top = Math.max(1, ...values);
  const w = 3, h = 16;
  const bars = values.map((v, i) => {
    const bh = Math.max(1, Math.round((v / top) * h));
    return `<rect x="${i * w}" y="${h - bh}" width="${w - 1}" height="${bh}"></rect>`;
  }).join("");
  return `<svg class="spark" width="${values.length * w}" height="${h}">${bars}</svg>`;
}

function header() {
  const s = status;
  document.getElementById("title").textContent = `· ${s.title}${s.pid ? ` · pid ${s.pid}` : ""}`;
  document.getElementById("counts").textContent =
    `· ${s.tasks} tasks: ${s.running} running, ${s.blocked} blocked, ${s.idle} idle` +
    (s.lints ? ` · ⚠ ${s.lints} lint(s)` : "") +
    (s.events_dropped ? ` · ${s.events_dropped} events dropped` : "");
  document.getElementById("spark").innerHTML = sparkline(s.activity);
  const banner = document.getElementById("banner");
  if (s.deadlocks > 0) {
    banner.hidden = false;
    banner.innerHTML = `<b class="mark">DEADLOCK</b> ${s.deadlocks} deadlock(s): tasks wait for each other forever. ` +
      `<a href="#/graph">See the cycle</a> · <a href="#/">the report</a>`;
  } else {
    banner.hidden = true;
  }
  for (const a of document.querySelectorAll("a[href^='api/']")) {
    a.href = url(a.getAttribute("href").split("?")[0]);
  }
}

function freshness() {
  const fresh = document.getElementById("fresh");
  if (!status) return;
  if (!status.live) {
    fresh.textContent = `· a recording of ${status.span_secs.toFixed(1)}s`;
  } else if (status.ended) {
    fresh.textContent = `· ended: ${status.ended}`;
  } else if (status.updated_ms_ago !== null) {
    const ago = status.updated_ms_ago + (Date.now() - fetchedAt);
    fresh.textContent = `· last updated ${Math.round(ago / 1000)}s ago`;
  }
}

const view = () => document.getElementById("view");

async function overview() {
  const [deadlocks, lints, tasks] = await Promise.all([
    api("api/v1/deadlocks"), api("api/v1/lints"), api("api/v1/tasks", { state: "blocked", limit: 10 }),
  ]);
  let profile = null;
  if (status.events > 0) profile = (await api("api/v1/profile")).profile;
  const slow = profile && profile.functions[0];
  const await_ = profile && profile.awaits[0];
  view().innerHTML = `
    <section class="cards">
      <div class="card"><b>${status.tasks}</b> tasks</div>
      <div class="card"><b>${status.running}</b> running</div>
      <div class="card ${status.blocked ? "warn" : ""}"><b>${status.blocked}</b> blocked</div>
      <div class="card ${status.deadlocks ? "bad" : ""}"><b>${status.deadlocks}</b> deadlocks</div>
      ${slow ? `<div class="card">slowest: <b>${esc(slow.function)}()</b>
        p99 ${ms(nanos(slow.timing.p99) / 1e6)}</div>` : ""}
      ${await_ ? `<div class="card">slowest await: <b>${esc(await_.expr)}</b>
        p99 ${ms(nanos(await_.timing.p99) / 1e6)}</div>` : ""}
    </section>
    ${deadlocks.text.map((t) => `<pre class="deadlock">${esc(t)}</pre>`).join("")}
    <h2>Blocked tasks</h2>
    ${taskTable(tasks.tasks)}
    ${lints.text.length ? `<h2>Lints</h2><ul>${lints.text.map((t) => `<li>⚠ ${esc(t)}</li>`).join("")}</ul>` : ""}`;
}

function taskTable(rows) {
  if (!rows.length) return "<p>None.</p>";
  return `<table class="tasks"><thead><tr><th>id</th><th>state</th><th>name</th><th>parked at</th>
    <th>for</th><th>polls</th><th>wakes</th><th>busy</th></tr></thead><tbody>` +
    rows.map((t) => `<tr class="${esc(t.state.toLowerCase())}${t.paused_at ? " paused" : ""}${t.deadlocked ? " deadlocked" : ""}">
      <td><a href="#/task/${t.id}">#${t.id}</a></td>
      <td>${t.paused_at ? `PAUSED at breakpoint ${t.paused_at}`
        : t.deadlocked ? `<b class="mark">DEADLOCK</b>`
        : t.unwakeable ? `<b class="mark">NO WAKER</b> ${esc(t.state)}` : esc(t.state)}</td>
      <td><a href="#/task/${t.id}">${esc(t.name)}</a>${t.span ? ` <span class="span code">${esc(t.span)}</span>` : ""}
        ${t.trace_id ? ` <a class="trace code" href="#/trace/${t.trace_id}">trace ${esc(t.trace_id.slice(0, 8))}</a>` : ""}</td>
      <td class="code">${esc(t.parked_at || "")}</td><td>${ms(t.for_ms)}</td>
      <td>${t.polls}</td><td>${t.wakes}</td><td>${t.busy_pct.toFixed(0)}%</td></tr>`).join("") +
    "</tbody></table>";
}

const tableState = { state: "all", q: "", trace: "", sort: "state", offset: 0 };

async function tasks() {
  const page = await api("api/v1/tasks", { ...tableState, limit: 200 });
  const option = (value, current) =>
    `<option value="${value}" ${value === current ? "selected" : ""}>${value}</option>`;
  view().innerHTML = `
    <form class="filters" onsubmit="return false">
      <label>state <select id="f-state">${["all", "blocked", "running", "idle", "finished"]
        .map((v) => option(v, tableState.state)).join("")}</select></label>
      <label>search <input id="f-q" value="${esc(tableState.q)}" placeholder="name, await or span"></label>
      <label>trace <input id="f-trace" value="${esc(tableState.trace)}" placeholder="trace id"></label>
      <label>sort <select id="f-sort">${["state", "id", "name", "polls", "age"]
        .map((v) => option(v, tableState.sort)).join("")}</select></label>
      <span>${page.total} tasks · ${page.offset + 1}–${Math.min(page.total, page.offset + 200)}</span>
      <button id="f-prev" ${page.offset === 0 ? "disabled" : ""}>◀</button>
      <button id="f-next" ${page.offset + 200 >= page.total ? "disabled" : ""}>▶</button>
    </form>
    ${taskTable(page.tasks)}`;
  const again = () => { tableState.offset = 0; tasks(); };
  document.getElementById("f-state").onchange = (e) => { tableState.state = e.target.value; again(); };
  document.getElementById("f-sort").onchange = (e) => { tableState.sort = e.target.value; again(); };
  document.getElementById("f-q").onchange = (e) => { tableState.q = e.target.value; again(); };
  document.getElementById("f-trace").onchange = (e) => { tableState.trace = e.target.value.trim(); again(); };
  document.getElementById("f-prev").onclick = () => { tableState.offset = Math.max(0, tableState.offset - 200); tasks(); };
  document.getElementById("f-next").onclick = () => { tableState.offset += 200; tasks(); };
}

async function task(id) {
  const t = await api(`api/v1/tasks/${id}`);
  const holders = [];
  for (const wait of t.task.waits) {
    const r = wait.reason;
    const list = (r.lock && r.lock.holders) || (r.channel && r.channel.holders) || [];
    for (const h of list) holders.push(h.task);
    if (r.join) holders.push(r.join.task);
  }
  view().innerHTML = `
    <h2>Task #${t.row.id} ${esc(t.row.name)} <small>${esc(t.row.state)}</small></h2>
    <p>${holders.length ? `Waits for ${holders.map((h) => `<a href="#/task/${h}">task #${h}</a>`).join(", ")} ·` : ""}
      <a href="#/graph/${t.row.id}">its wait-for graph</a> ·
      parent ${t.task.parent ? `<a href="#/task/${t.task.parent}">#${t.task.parent}</a>` : "none"}
      ${t.row.trace_id ? ` · serves trace <a class="code" href="#/trace/${t.row.trace_id}">${esc(t.row.trace_id)}</a>` : ""}</p>
    <pre class="report">${esc(t.report)}</pre>
    ${t.children.length ? `<h3>Children</h3>${taskTable(t.children)}` : ""}`;
}

let windowMs = 5000;

async function timeline() {
  const data = await api("api/v1/timeline", { window_ms: windowMs });
  const width = Math.max(600, view().clientWidth - 40), label = 220, lane = 18;
  const span = Math.max(1, data.end_ns - data.start_ns);
  const x = (t) => label + ((t - data.start_ns) / span) * (width - label);
  const rows = data.lanes.map((l, i) => {
    const y = i * lane;
    const spans = l.spans.map(([a, b, kind]) =>
      `<rect class="${kind}" x="${x(a)}" y="${y + 3}" width="${Math.max(1, x(b) - x(a))}" height="${lane - 6}">` +
      `<title>${kind} ${ms((b - a) / 1e6)}</title></rect>`).join("");
    return `<a href="#/task/${l.task}"><text x="4" y="${y + 13}">#${l.task} ${esc(l.name.slice(0, 28))}</text></a>${spans}`;
  }).join("");
  // Who woke whom: an arrow from the waking task's lane to the woken one's.
  const row = new Map(data.lanes.map((l, i) => [l.task, i]));
  const wakes = (data.wakes || []).map(([by, task, at]) => {
    const from = row.get(by) * lane + lane / 2, to = row.get(task) * lane + lane / 2;
    return `<line class="wake" x1="${x(at)}" y1="${from}" x2="${x(at)}" y2="${to}" marker-end="url(#wake)">` +
      `<title>task #${by} woke task #${task}</title></line>`;
  }).join("");
  const zoom = [1000, 5000, 30000, 120000].map((w) =>
    `<button data-w="${w}" ${w === windowMs ? "disabled" : ""}>${ms(w)}</button>`).join(" ");
  view().innerHTML = `
    <p>The last ${ms(windowMs)}: <span class="poll">■</span> polled
      <span class="lock">■</span> waiting for a lock <span class="parked">■</span> parked at an await · zoom ${zoom}</p>
    ${data.events === 0 ? "<p>No events recorded: the timeline needs a recording with events.</p>" : ""}
    ${wakes ? "<p>↓ an arrow: a wake from one task to another (recorded with every poll).</p>" : ""}
    <svg class="timeline" width="${width}" height="${data.lanes.length * lane + 4}">
      <defs><marker id="wake" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="5" markerHeight="5" orient="auto">
        <path d="M0,0 L10,5 L0,10 z"/></marker></defs>${rows}${wakes}</svg>`;
  for (const b of view().querySelectorAll("button[data-w]")) {
    b.onclick = () => { windowMs = Number(b.dataset.w); timeline(); };
  }
}

async function graph(id) {
  const g = await api("api/v1/graph", { task: id });
  const inCycle = new Set(g.cycles.flat());
  const n = g.nodes.length, size = Math.max(320, Math.min(900, 120 * n));
  const r = size / 2 - 80, c = size / 2;
  const pos = new Map(g.nodes.map((node, i) => [node.id, {
    x: c + r * Math.cos((2 * Math.PI * i) / Math.max(1, n) - Math.PI / 2),
    y: c + r * Math.sin((2 * Math.PI * i) / Math.max(1, n) - Math.PI / 2),
  }]));
  const edges = g.edges.map((e) => {
    const a = pos.get(e.from), b = pos.get(e.to);
    if (!a || !b) return "";
    const bad = inCycle.has(e.from) && inCycle.has(e.to);
    // Bent to its left, so that a wait each way draws two arcs.
    const dx = b.x - a.x, dy = b.y - a.y, len = Math.max(1, Math.hypot(dx, dy));
    const mx = (a.x + b.x) / 2 + (dy / len) * 40, my = (a.y + b.y) / 2 - (dx / len) * 40;
    return `<path class="${bad ? "cycle" : ""}" d="M${a.x},${a.y} Q${mx},${my} ${b.x},${b.y}" marker-end="url(#arrow)">` +
      `<title>${esc(e.label)}</title></path>` +
      `<text class="edge" x="${mx}" y="${my}">${esc(e.label)}</text>`;
  }).join("");
  const nodes = g.nodes.map((node) => {
    const p = pos.get(node.id);
    return `<a href="#/task/${node.id}"><circle class="${inCycle.has(node.id) ? "cycle" : esc(node.state.toLowerCase())}"
      cx="${p.x}" cy="${p.y}" r="16"></circle>
      <text x="${p.x + 20}" y="${p.y + 4}">#${node.id} ${esc(node.name)}</text></a>`;
  }).join("");
  view().innerHTML = `
    <p>${id ? `The tasks task #${id} waits for, and whom they wait for.` : "Every waiting task."}
      ${g.cycles.length ? `<b class="bad">Red: a deadlock cycle.</b>` : ""} Click a task for its stack.</p>
    ${n ? `<svg class="graph" width="${size + 260}" height="${size}">
      <defs><marker id="arrow" viewBox="0 0 10 10" refX="26" refY="5" markerWidth="8" markerHeight="8" orient="auto">
      <path d="M0,0 L10,5 L0,10 z"></path></marker></defs>${edges}${nodes}</svg>` : "<p>No task waits for another.</p>"}`;
}

let waitFlame = false;

async function profile() {
  if (status.events === 0) {
    view().innerHTML = "<p>No events recorded yet: the profile needs a recording with events.</p>";
    return;
  }
  const p = await api("api/v1/profile");
  view().innerHTML = `
    <p><button id="flip">${waitFlame ? "time in polls" : "time parked"}</button> flamegraph of
      ${waitFlame ? "time parked" : "time in polls"} per logical async stack</p>
    <object class="flame" type="image/svg+xml" data="${url("api/v1/profile/flamegraph.svg", { wait: waitFlame ? 1 : "" })}"></object>
    <pre class="report">${esc(p.report)}</pre>`;
  document.getElementById("flip").onclick = () => { waitFlame = !waitFlame; profile(); };
}

async function resources() {
  const r = await api("api/v1/resources");
  view().innerHTML = `<table><thead><tr><th>kind</th><th>name</th><th>held by</th><th>waiters</th>
    <th>taken</th><th>contended</th></tr></thead><tbody>` +
    r.resources.map((res) => `<tr><td>${esc(res.resource.kind)}</td><td>${esc(res.resource.name)}</td>
      <td>${res.holders.map((h) => `<a href="#/task/${h.task}">#${h.task}</a>`).join(" ")}</td>
      <td>${res.waiters}</td><td>${res.acquisitions}</td><td>${res.contended}</td></tr>`).join("") +
    "</tbody></table>";
}

async function ps() {
  const list = await api("api/v1/processes");
  view().innerHTML = `<h2>Inspectable processes of this user</h2>` +
    (list.processes.length ? `<table><thead><tr><th>pid</th><th>program</th><th>tasks</th>
      <th>blocked</th><th>deadlocks</th><th></th></tr></thead><tbody>` +
      list.processes.map((p) => `<tr><td>${p.pid}</td><td>${esc(p.program)}</td>
        <td>${p.tasks ? p.tasks[0] : "?"}</td><td>${p.tasks ? p.tasks[1] : "?"}</td>
        <td class="${p.tasks && p.tasks[2] ? "bad" : ""}">${p.tasks ? p.tasks[2] : "?"}</td>
        <td><button data-pid="${p.pid}">look inside</button></td></tr>`).join("") + "</tbody></table>"
      : "<p>None: start a program with ASYNC_INSPECT_AGENT=1, or under async-inspect run.</p>");
  for (const b of view().querySelectorAll("button[data-pid]")) {
    b.onclick = async () => {
      try {
        await api("api/v1/attach", { pid: b.dataset.pid });
        listen();
        location.hash = "#/";
        await refresh();
      } catch (e) {
        pageMessage(e.message);
      }
    };
  }
}

function pageMessage(message) {
  view().insertAdjacentHTML("afterbegin", `<p class="bad">${esc(message)}</p>`);
}

async function render() {
  const parts = location.hash.replace(/^#\/?/, "").split("/");
  const name = parts[0] || "overview";
  for (const a of document.querySelectorAll("nav a[data-view]")) {
    a.classList.toggle("active", a.dataset.view === name || ((name === "task" || name === "trace") && a.dataset.view === "tasks"));
  }
  try {
    if (!status) return;
    document.getElementById("nav-ps").hidden = !status.picker;
    if (name === "ps" || (status.picker && status.snapshots === 0)) return await ps();
    switch (name) {
      case "tasks": return await tasks();
      case "task": return await task(parts[1]);
      // Every task serving one request: the tasks table, filtered.
      case "trace": tableState.trace = decodeURIComponent(parts[1] || ""); tableState.offset = 0; return await tasks();
      case "timeline": return await timeline();
      case "graph": return await graph(parts[1]);
      case "profile": return await profile();
      case "resources": return await resources();
      // Throws where nothing catches: shows that the page reports its own
      // errors (the browser test relies on it).
      case "__selftest": setTimeout(() => { throw new Error("self-test"); }); return;
      default: return await overview();
    }
  } catch (e) {
    view().innerHTML = `<p class="bad">${esc(e.message)}</p>`;
  }
}

async function refresh() {
  try {
    status = await api("api/v1/status");
    fetchedAt = Date.now();
    header();
    freshness();
  } catch (e) {
    view().innerHTML = `<p class="bad">${esc(e.message)}</p>`;
    return;
  }
  // Keep a form being typed in.
  if (!document.activeElement || document.activeElement.tagName !== "INPUT") await render();
}

window.addEventListener("hashchange", render);
// `?live=0` loads once and stays still (for screenshots and tests).
let live = null;

// Listens for changes (again, after a process was chosen).
function listen() {
  if (new URLSearchParams(location.search).get("live") === "0") return;
  if (live) live.close();
  live = new EventSource(url("api/v1/events"));
  live.addEventListener("update", refresh);
  live.onerror = () => {
    document.getElementById("fresh").textContent = "· reconnecting…";
  };
}

setInterval(freshness, 1000);
listen();
refresh();
