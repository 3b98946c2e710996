// The llmnode dashboard: reads the daemon's API with the token the user gave.
// The token lives in sessionStorage (gone with the tab); a `#token=` fragment
// also works and never reaches the server.
"use strict";

const KEY = "llmnode.token";
const $ = (sel) => document.querySelector(sel);

function token() { return sessionStorage.getItem(KEY); }

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { "Authorization": "Bearer " + token(), "Content-Type": "application/json" },
  });
  const body = response.status === 204 ? {} : await response.json();
  if (!response.ok) {
    const message = (body.error && body.error.message) || response.statusText;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return body;
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function dollars(x) { return "$" + Number(x || 0).toFixed(x >= 1 ? 2 : 4); }

function renderConnections(list, admin) {
  const body = $("#connections tbody");
  body.replaceChildren();
  for (const c of list) {
    const tr = document.createElement("tr");
    tr.dataset.name = c.name;
    cell(tr, c.name);
    cell(tr, c.provider);
    const status = c.enabled === false ? "disabled" : c.status;
    const badge = document.createElement("span");
    badge.className = "badge " + status;
    badge.textContent = status;
    badge.title = (c.status_reasons || []).join("; ");
    cell(tr, "").appendChild(badge);
    cell(tr, String(c.usage_30d.requests), "num");
    cell(tr, String(c.usage_30d.errors), "num");
    cell(tr, dollars(c.usage_30d.cost_usd), "num");
    const key = (c.secrets || []).find((s) => s.field === "api_key");
    cell(tr, key ? key.hint : "—");
    const actions = cell(tr, "");
    if (admin) {
      for (const [label, action] of [["Test", "test"], [c.enabled === false ? "Enable" : "Disable", c.enabled === false ? "enable" : "disable"]]) {
        const button = document.createElement("button");
        button.textContent = label;
        button.dataset.action = action;
        button.addEventListener("click", () => act(c.name, action));
        actions.appendChild(button);
      }
    }
    body.appendChild(tr);
  }
}

function renderChart(daily) {
  const width = 900, height = 180, pad = 22;
  const max = Math.max(1, ...daily.map((d) => d.requests));
  const step = (width - pad) / Math.max(1, daily.length);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "requests per day");
  daily.forEach((d, i) => {
    const h = (height - 2 * pad) * d.requests / max;
    const bar = document.createElementNS(ns, "rect");
    bar.setAttribute("class", "bar");
    bar.setAttribute("x", pad + i * step + 1);
    bar.setAttribute("y", height - pad - h);
    bar.setAttribute("width", Math.max(1, step - 2));
    bar.setAttribute("height", h);
    bar.dataset.date = d.date;
    bar.dataset.requests = d.requests;
    const title = document.createElementNS(ns, "title");
    title.textContent = `${d.date}: ${d.requests} requests`;
    bar.appendChild(title);
    svg.appendChild(bar);
    if (i % 7 === daily.length % 7 || i === daily.length - 1) {
      const label = document.createElementNS(ns, "text");
      label.setAttribute("x", pad + i * step);
      label.setAttribute("y", height - 6);
      label.textContent = d.date.slice(5);
      svg.appendChild(label);
    }
  });
  const top = document.createElementNS(ns, "text");
  top.setAttribute("x", 0);
  top.setAttribute("y", pad - 8);
  top.textContent = String(max);
  svg.appendChild(top);
  $("#chart").replaceChildren(svg);
}

function renderRows(selector, rows, columns) {
  const body = $(selector + " tbody");
  body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    for (const [value, cls] of columns(r)) cell(tr, value, cls);
    body.appendChild(tr);
  }
}

async function act(name, action) {
  $("#notice").textContent = "";
  try {
    const result = await api(`/api/v1/connections/${encodeURIComponent(name)}/${action}`, { method: "POST" });
    if (action === "test") {
      $("#notice").textContent = result.passed ? `${name}: test passed` : `${name}: test failed (${result.detail})`;
    }
  } catch (e) {
    $("#notice").textContent = `${name}: ${e.message}`;
  }
  await load();
}

async function load() {
  const me = await api("/api/v1/me");
  $("#who").textContent = `${me.user} · ${me.workspace} · ${me.role}`;
  const [connections, usage] = await Promise.all([api("/api/v1/connections"), api("/api/v1/usage?days=30&top=10")]);
  renderConnections(connections.connections, me.role === "admin");
  renderChart(usage.daily);
  renderRows("#models", usage.by_model, (m) => [[m.provider], [m.model], [String(m.requests), "num"], [dollars(m.cost_usd), "num"]]);
  renderRows("#workflows", usage.top_workflows, (w) => [[w.name], [String(w.requests), "num"], [dollars(w.cost_usd), "num"]]);
  document.body.dataset.loaded = "true";
}

function show(loggedIn) {
  $("#login").hidden = loggedIn;
  $("#app").hidden = !loggedIn;
  $("#logout").hidden = !loggedIn;
}

async function start() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("token")) {
    sessionStorage.setItem(KEY, fragment.get("token"));
    history.replaceState(null, "", location.pathname);
  }
  if (!token()) { show(false); return; }
  show(true);
  try {
    await load();
  } catch (e) {
    if (e.status === 401) {
      sessionStorage.removeItem(KEY);
      show(false);
      $("#login-error").textContent = e.message;
    } else {
      $("#notice").textContent = e.message;
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("#token").value.trim());
    $("#token").value = "";
    start();
  });
  $("#logout").addEventListener("click", () => { sessionStorage.removeItem(KEY); show(false); });
  start();
});
