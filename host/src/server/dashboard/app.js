// The llmnode dashboard: reads and changes the daemon's state through its
// public API with the token the user gave, so every change gets the API's
// validation and audit row. The token lives in sessionStorage (gone with the
// tab); a `#token=` fragment also works and never reaches the server. A key
// typed into a form is sent once and never read back: the API returns hints.
"use strict";

const KEY = "llmnode.token";
const $ = (sel) => document.querySelector(sel);

// What the page knows between loads.
const state = { admin: false, connections: [], providers: [], daily: [], view: "overview", editing: null };

function token() { return sessionStorage.getItem(KEY); }

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { "Authorization": "Bearer " + token(), "Content-Type": "application/json" },
  });
  const text = response.status === 204 ? "" : await response.text();
  let body = {};
  try { body = text ? JSON.parse(text) : {}; } catch { body = {}; }
  if (!response.ok) {
    const error = new Error((body.error && body.error.message) || `${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

const path = (name, rest = "") => `/api/v1/connections/${encodeURIComponent(name)}${rest}`;

// ---- small renderers -------------------------------------------------------

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

function dollars(x) {
  x = Number(x || 0);
  return x > 0 && x < 0.0001 ? "<$0.0001" : "$" + x.toFixed(x >= 1 ? 2 : 4);
}
function count(n) { return Number(n || 0).toLocaleString("en-US"); }
function utc(ms) { return new Date(ms).toISOString().replace("T", " ").slice(0, 19); }

function notify(message, kind = "ok") {
  const notice = $("#notice");
  notice.textContent = message;
  notice.className = "notice " + kind;
}

function renderRows(selector, rows, columns) {
  const body = $(selector + " tbody");
  body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    for (const [value, cls] of columns(r)) cell(tr, value, cls);
    body.appendChild(tr);
  }
  const empty = $(selector + "-empty");
  if (empty) empty.hidden = rows.length > 0;
}

// ---- connections -----------------------------------------------------------

function models(s) {
  if (s.models && s.models.length) return s.models.join(", ");
  return s.default_model ? `${s.default_model} (default)` : "all";
}

function limits(s) {
  const parts = [];
  if (s.rpm != null) parts.push(`${count(s.rpm)} rpm`);
  if (s.tpm != null) parts.push(`${count(s.tpm)} tpm`);
  if (s.daily_budget_usd != null) parts.push(`$${Number(s.daily_budget_usd).toFixed(2)}/day`);
  return parts.length ? parts.join(" · ") : "none";
}

function button(label, action, handler, cls) {
  const b = el("button", label, cls);
  b.type = "button";
  b.dataset.action = action;
  b.addEventListener("click", handler);
  return b;
}

function renderConnections(list) {
  const body = $("#connections tbody");
  body.replaceChildren();
  for (const c of list) {
    const tr = document.createElement("tr");
    tr.dataset.name = c.name;
    tr.dataset.enabled = String(c.enabled !== false);
    cell(tr, c.name, "name");
    cell(tr, c.provider);
    cell(tr, models(c.settings || {}), "models");
    const status = c.enabled === false ? "disabled" : c.status;
    const statusCell = cell(tr, "", "status");
    statusCell.appendChild(el("span", status, "badge " + status));
    const reasons = c.status_reasons || [];
    if (reasons.length && status !== "active") {
      const list = el("ul", undefined, "reasons");
      for (const r of reasons) list.appendChild(el("li", r));
      statusCell.appendChild(list);
    }
    cell(tr, limits(c.settings || {}), "limits");
    cell(tr, count(c.usage_30d.requests), "num");
    cell(tr, count(c.usage_30d.errors), "num");
    cell(tr, dollars(c.usage_30d.cost_usd), "num");
    const key = (c.secrets || []).find((s) => s.field === "api_key");
    cell(tr, key ? key.hint : "none", "key");
    if (state.admin) {
      const actions = cell(tr, "", "actions");
      actions.append(
        button("Test", "test", () => test(c.name)),
        button("Edit", "edit", () => openEditor(c)),
        c.enabled === false
          ? button("Enable", "enable", () => enable(c.name))
          : button("Disable", "disable", () => disable(c.name)),
        button("Delete", "delete", () => remove(c.name), "danger"),
      );
    }
    body.appendChild(tr);
  }
  $("#connections-empty").hidden = list.length > 0;
}

// Run one change, reload what the page shows, then report it: the report
// appears once the tables show the change.
async function change(what, run) {
  notify("");
  let message, kind = "ok";
  try {
    message = await run();
  } catch (e) {
    [message, kind] = [`${what}: ${e.message}`, "error"];
  }
  await reload();
  notify(message, kind);
}

// Reload the page's data; a failure is shown, never thrown at a click handler.
async function reload() {
  try { await refresh(); } catch (e) { notify(e.message, "error"); }
}

// A test's three findings, apart: an operator fixes each differently.
function findings(r) {
  const said = (v, yes, no) => (v === true ? yes : v === false ? no : null);
  return [
    r.reachable ? "reachable" : "unreachable",
    said(r.key_valid, "key accepted", "key refused"),
    said(r.model_access, `model ${r.model} available`, `model ${r.model} not available`),
  ].filter(Boolean).join(", ");
}

function test(name) {
  return change(name, async () => {
    const r = await api(path(name, "/test"), { method: "POST" });
    if (r.passed) return `${name}: test passed: ${findings(r)}`;
    throw new Error(`test failed: ${findings(r)}` + (r.detail ? ` (${r.detail})` : ""));
  });
}

function enable(name) {
  return change(name, async () => {
    await api(path(name, "/enable"), { method: "POST" });
    return `${name} enabled`;
  });
}

async function usedBy(name) {
  return (await api(path(name, "/used-by"))).used_by;
}

async function disable(name) {
  let used;
  try { used = await usedBy(name); } catch (e) { notify(`${name}: ${e.message}`, "error"); return; }
  const ok = await confirmStep({
    title: `Disable ${name}?`,
    text: used.length
      ? "These workflows and routes use it; their calls will fail over to their fallbacks, or fail:"
      : "No workflow or route uses it.",
    used,
    warning: "New runs are refused at once; runs in flight finish. Enable it again at any time.",
    action: "Disable",
  });
  if (!ok) return;
  await change(name, async () => {
    await api(path(name, "/disable"), { method: "POST" });
    return `${name} disabled`;
  });
}

async function remove(name) {
  let used;
  try { used = await usedBy(name); } catch (e) { notify(`${name}: ${e.message}`, "error"); return; }
  const ok = await confirmStep({
    title: `Delete ${name}?`,
    text: used.length ? "These workflows and routes use it; deleting it breaks them:" : "No workflow or route uses it.",
    used,
    warning: "Its settings and stored keys are destroyed. This cannot be undone.",
    action: "Delete",
  });
  if (!ok) return;
  // Forced only past what the operator was shown: anything that started
  // using it since is still refused by the server, by name.
  await change(name, async () => {
    await api(path(name, used.length ? "?force=true" : ""), { method: "DELETE" });
    return `${name} deleted`;
  });
}

// ---- the confirmation step -------------------------------------------------

let settle = null;

function confirmStep({ title, text, used, warning, action }) {
  $("#confirm-title").textContent = title;
  $("#confirm-text").textContent = text;
  const list = $("#confirm-used");
  list.replaceChildren(...used.map((w) => el("li", w)));
  list.hidden = used.length === 0;
  $("#confirm-warning").textContent = warning;
  $("#confirm-ok").textContent = action;
  $("#confirm").showModal();
  return new Promise((resolve) => { settle = resolve; });
}

function closeConfirm(answer) {
  if (settle) settle(answer);
  settle = null;
  if ($("#confirm").open) $("#confirm").close();
}

// ---- the add / edit form ---------------------------------------------------

// The settings the form edits; everything else is left as it is.
const FIELDS = { base_url: "text", default_model: "text", models: "list", rpm: "number", tpm: "number", daily_budget_usd: "number" };

// A number as a number; anything else as typed, so the server's validation
// names the field and what it expected.
function numberOrText(raw) {
  const n = Number(raw);
  return Number.isFinite(n) ? n : raw;
}

function formSettings(form) {
  const out = {};
  for (const [field, kind] of Object.entries(FIELDS)) {
    const raw = form.elements[field].value.trim();
    if (kind === "list") out[field] = raw.split(",").map((s) => s.trim()).filter(Boolean);
    else out[field] = raw === "" ? null : kind === "number" ? numberOrText(raw) : raw;
  }
  return out;
}

function providerOptions(current) {
  const names = [...state.providers];
  if (current && !names.includes(current)) names.push(current);
  $("#f-provider").replaceChildren(...names.map((n) => { const o = el("option", n); o.value = n; return o; }));
}

function openEditor(c) {
  state.editing = c || null;
  const form = $("#editor-form");
  form.reset();
  $("#editor-error").textContent = "";
  providerOptions(c && c.provider);
  form.elements.name.readOnly = Boolean(c);
  form.elements.provider.disabled = Boolean(c);
  const key = form.elements.api_key;
  if (c) {
    const s = c.settings || {};
    form.elements.name.value = c.name;
    form.elements.provider.value = c.provider;
    for (const [field, kind] of Object.entries(FIELDS)) {
      const v = s[field];
      form.elements[field].value = v == null ? "" : kind === "list" ? v.join(", ") : String(v);
    }
    const hint = (c.secrets || []).find((x) => x.field === "api_key");
    key.placeholder = hint ? `unchanged (${hint.hint}); type a new key to replace it` : "none stored; type one to add it";
    $("#editor-title").textContent = `Edit ${c.name}`;
    $("#editor-save").textContent = "Save";
  } else {
    key.placeholder = "sent once, then shown only as a hint";
    $("#editor-title").textContent = "Add connection";
    $("#editor-save").textContent = "Add";
  }
  $("#editor").showModal();
  (c ? form.elements.base_url : form.elements.name).focus();
}

function closeEditor() {
  $("#editor-form").reset(); // the key field too: nothing typed stays in the page
  state.editing = null;
  if ($("#editor").open) $("#editor").close();
}

// The PATCH body: only what differs from the connection as loaded.
function editBody(c, settings, key) {
  const current = c.settings || {};
  const changed = {};
  for (const field of Object.keys(FIELDS)) {
    const before = current[field] ?? (FIELDS[field] === "list" ? [] : null);
    if (JSON.stringify(before) !== JSON.stringify(settings[field])) changed[field] = settings[field];
  }
  const body = {};
  if (Object.keys(changed).length) body.settings = changed;
  if (key) body.secrets = { api_key: key };
  return body;
}

async function saveEditor(event) {
  event.preventDefault();
  const form = event.target;
  const editing = state.editing;
  const settings = formSettings(form);
  const key = form.elements.api_key.value.trim();
  $("#editor-error").textContent = "";
  $("#editor-save").disabled = true;
  let message;
  try {
    let saved;
    if (editing) {
      const body = editBody(editing, settings, key);
      if (!Object.keys(body).length) { closeEditor(); notify(`${editing.name}: nothing changed`); return; }
      saved = await api(path(editing.name), { method: "PATCH", body: JSON.stringify(body) });
    } else {
      for (const [field, v] of Object.entries(settings)) if (v === null || (Array.isArray(v) && !v.length)) delete settings[field];
      const body = { name: form.elements.name.value.trim(), provider: form.elements.provider.value, settings };
      if (key) body.secrets = { api_key: key };
      saved = await api("/api/v1/connections", { method: "POST", body: JSON.stringify(body) });
    }
    closeEditor();
    const hint = (saved.secrets || []).find((x) => x.field === "api_key");
    message = `${saved.name} ${editing ? "saved" : "added"}` + (key && hint ? `; its key shows only as ${hint.hint}` : "");
  } catch (e) {
    // Nothing changed on the server; the form stays as typed (the key masked) to be fixed.
    $("#editor-error").textContent = e.message;
    return;
  } finally {
    $("#editor-save").disabled = false;
  }
  await reload();
  notify(message);
}

// ---- usage, alerts, audit --------------------------------------------------

function renderChart(daily) {
  // Drawn at the width it is shown at (a hidden chart is redrawn when shown).
  const shown = $("#chart").clientWidth;
  const width = shown > 0 ? Math.max(300, shown - 16) : 900, height = 180, pad = 22;
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

function delivery(a) {
  if (a.delivered_ms) return `delivered ${utc(a.delivered_ms)}`;
  if (a.delivery_error) return `failed after ${a.delivery_attempts} attempt(s): ${a.delivery_error}`;
  return a.delivery_attempts ? "pending" : "—";
}

function renderAlerts(alerts, settings) {
  renderRows("#alerts", alerts, (a) => [
    [utc(a.fired_ms)], [a.kind], [a.subject || "workspace"], [a.message, "message"],
    [String(+a.value.toFixed(4)), "num"], [String(+a.threshold.toFixed(4)), "num"], [delivery(a)],
  ]);
  const badge = $("#alert-count");
  badge.textContent = String(alerts.length);
  badge.hidden = alerts.length === 0;
  const s = settings.settings || {};
  const spend = s.daily_spend_usd != null ? `daily spend over $${s.daily_spend_usd}` : "no daily-spend threshold";
  $("#alert-settings").textContent =
    `Thresholds: ${spend}; ${s.limit_pct}% of a connection's RPM, TPM or budget; ` +
    `${s.error_rate_pct}% errors over ${s.window_secs} s (at least ${s.min_requests} attempts). ` +
    `Webhook: ${settings.webhook || "none"}.`;
}

function renderApprovals(approvals) {
  renderRows("#approvals", approvals, (a) => [
    [String(a.id), "num"], [a.kind], [a.target], [a.requested_by], [utc(a.requested_ms)],
    [JSON.stringify(a.detail.changed || a.detail.settings || a.detail), "detail"], [""],
  ]);
  const rows = $("#approvals tbody").children;
  approvals.forEach((a, i) => {
    if (!state.admin) return;
    const actions = rows[i].lastElementChild;
    actions.className = "actions";
    actions.append(
      button("Approve", `approve #${a.id}`, () => decide(a, "approve")),
      button("Reject", `reject #${a.id}`, () => decide(a, "reject"), "danger"),
    );
  });
  const badge = $("#approval-count");
  badge.textContent = String(approvals.length);
  badge.hidden = approvals.length === 0;
}

function decide(a, verdict) {
  return change(`${verdict} #${a.id}`, async () => {
    const r = await api(`/api/v1/approvals/${a.id}/${verdict}`, { method: "POST" });
    return `#${r.id} ${r.state}: ${r.kind} of ${r.target}`;
  });
}

function renderAudit(entries) {
  renderRows("#audit", entries, (e) => [
    [utc(e.at_ms)], [e.actor], [e.action], [e.target],
    [e.detail && Object.keys(e.detail).length ? JSON.stringify(e.detail) : "", "detail"],
  ]);
}

function auditQuery() {
  const q = new URLSearchParams({ limit: "200" });
  const action = $("#audit-action").value.trim(), target = $("#audit-target").value.trim();
  if (action) q.set("action", action);
  if (target) q.set("target", target);
  return q;
}

// ---- loading and views -----------------------------------------------------

async function refresh() {
  const me = await api("/api/v1/me");
  state.admin = me.role === "admin";
  $("#who").textContent = `${me.user} · ${me.workspace} · ${me.role}`;
  for (const node of document.querySelectorAll(".admin-only")) node.hidden = !state.admin;
  const [connections, usage, alerts, alertSettings, plugins, audit, approvals] = await Promise.all([
    api("/api/v1/connections"),
    api("/api/v1/usage?days=30&top=10"),
    api("/api/v1/alerts?days=30"),
    api("/api/v1/alerts/settings"),
    api("/api/v1/plugins"),
    state.admin ? api("/api/v1/audit?" + auditQuery()) : Promise.resolve({ entries: [] }),
    api("/api/v1/approvals"),
  ]);
  state.connections = connections.connections;
  state.providers = plugins.plugins.map((p) => p.name);
  renderConnections(state.connections);
  state.daily = usage.daily;
  renderChart(state.daily);
  renderRows("#models", usage.by_model, (m) => [
    [m.provider], [m.model], [count(m.requests), "num"], [count(m.input_tokens), "num"],
    [count(m.output_tokens), "num"], [dollars(m.cost_usd), "num"],
  ]);
  renderRows("#workflows", usage.top_workflows, (w) => [[w.name], [count(w.requests), "num"], [dollars(w.cost_usd), "num"]]);
  renderAlerts(alerts.alerts, alertSettings);
  renderAudit(audit.entries);
  renderApprovals(approvals.approvals);
  if (!state.admin && state.view === "audit") showView("overview");
  document.body.dataset.loaded = "true";
}

function showView(view) {
  state.view = view;
  for (const b of document.querySelectorAll("#tabs button")) {
    if (b.dataset.view === view) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== "view-" + view;
  if (view === "overview") renderChart(state.daily);
}

function show(loggedIn) {
  $("#login").hidden = loggedIn;
  $("#app").hidden = !loggedIn;
  $("#tabs").hidden = !loggedIn;
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
    await refresh();
  } catch (e) {
    if (e.status === 401) {
      sessionStorage.removeItem(KEY);
      show(false);
      $("#login-error").textContent = e.message;
    } else {
      notify(e.message, "error");
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
  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => showView(b.dataset.view));
  $("#add").addEventListener("click", () => openEditor(null));
  window.addEventListener("resize", () => { if (state.view === "overview") renderChart(state.daily); });
  $("#editor-form").addEventListener("submit", saveEditor);
  $("#editor-cancel").addEventListener("click", closeEditor);
  $("#editor").addEventListener("cancel", () => { $("#editor-form").reset(); state.editing = null; });
  $("#confirm-ok").addEventListener("click", () => closeConfirm(true));
  $("#confirm-cancel").addEventListener("click", () => closeConfirm(false));
  $("#confirm").addEventListener("close", () => closeConfirm(false));
  $("#audit-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    reload();
  });
  start();
});
