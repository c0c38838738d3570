// sluicegate admin UI: talks to /admin/api with the token from sessionStorage (no cookies, so no CSRF).
"use strict";

const TOKEN_KEY = "sluicegate.admin.token";
const $ = (id) => document.getElementById(id);
let editingProvider = null;
let editingModel = null;

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + token() };
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    return { ok: false, status: 0, data: { error: { message: "The gateway cannot be reached: " + err.message } } };
  }
  let data = null;
  try { data = await response.json(); } catch (err) { data = null; }
  if (response.status === 401) {
    signOut("The admin token was not accepted.");
  }
  return { ok: response.ok, status: response.status, data };
}

// -- messages --------------------------------------------------------------------------------

function notice(text) { $("notice").textContent = text; }

function problemItem(problem) {
  const item = document.createElement("li");
  if (problem.path) {
    const path = document.createElement("code");
    path.textContent = problem.path;
    item.append(path, ": ");
  }
  item.append(problem.message);
  return item;
}

function showErrors(data, what) {
  const problems = (data && data.problems) || [];
  const message = (data && data.error && data.error.message) || "The request failed.";
  $("errors-message").textContent = problems.length ? what + " was refused; the config keeps serving unchanged:" : message;
  $("errors-list").replaceChildren(...problems.map(problemItem));
  $("errors").hidden = false;
  notice("");
}

function clearErrors() {
  $("errors").hidden = true;
  $("errors-list").replaceChildren();
}

// -- rendering -------------------------------------------------------------------------------

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function keyText(key) {
  if (!key) return "none";
  if (key.literal) return "literal (hidden)";
  // Without the file (it does not parse) only whether the serving key is set is known.
  if (!key.env) return key.set ? "set" : "not set";
  return "${" + key.env + "} " + (key.set ? "(set)" : "(not set)");
}

function stateCell(entry) {
  if (!entry.serving) return cell("not serving", "state-bad");
  if (entry.configured) return cell("configured", "state-ok");
  return cell("unconfigured" + (entry.reason ? ": " + entry.reason : ""), "state-bad");
}

function actionCell(kind, name, onEdit, onDelete) {
  const td = document.createElement("td");
  const edit = document.createElement("button");
  edit.type = "button";
  edit.textContent = "Edit";
  edit.setAttribute("aria-label", "Edit " + kind + " " + name);
  edit.addEventListener("click", onEdit);
  const remove = document.createElement("button");
  remove.type = "button";
  remove.textContent = "Delete";
  remove.setAttribute("aria-label", "Delete " + kind + " " + name);
  remove.addEventListener("click", onDelete);
  td.append(edit, remove);
  return td;
}

function emptyRow(columns, text) {
  const row = document.createElement("tr");
  const td = cell(text, "empty");
  td.colSpan = columns;
  row.append(td);
  return row;
}

// Upstream calls of the last minute, as /health counts them.
function trafficText(traffic) {
  if (!traffic || !traffic.calls_1m) return "idle";
  const parts = [traffic.calls_1m + (traffic.calls_1m === 1 ? " call" : " calls"),
    Math.round(100 * (traffic.error_rate_1m || 0)) + "% errors"];
  if (traffic.ewma_ttfb_ms !== null && traffic.ewma_ttfb_ms !== undefined) {
    parts.push(Math.round(traffic.ewma_ttfb_ms) + " ms");
  }
  return parts.join(", ");
}

function renderProviders(providers) {
  const rows = providers.map((p) => {
    const row = document.createElement("tr");
    const breakers = Object.entries(p.targets || {}).map(([label, state]) => label + ": " + state).join(", ");
    row.append(cell(p.id), cell(p.type || ""), cell(p.base_url || "(default)"), cell(keyText(p.key)),
      stateCell(p), cell(breakers || "—"), cell(trafficText(p.traffic)),
      actionCell("provider", p.id, () => editProvider(p), () => remove("providers", "provider", p.id)));
    return row;
  });
  $("providers").tBodies[0].replaceChildren(...(rows.length ? rows : [emptyRow(8, "No providers.")]));
}

function renderModels(models) {
  const rows = models.map((m) => {
    const row = document.createElement("tr");
    row.append(cell(m.alias), cell((m.targets || []).join(", ")), cell(m.strategy || "ordered"),
      m.serving ? cell("serving", "state-ok") : cell("not serving", "state-bad"),
      actionCell("alias", m.alias, () => editModel(m), () => remove("models", "alias", m.alias)));
    return row;
  });
  $("models").tBodies[0].replaceChildren(...(rows.length ? rows : [emptyRow(5, "No aliases.")]));
}

function renderReload(state) {
  const when = state.at ? new Date(state.at * 1000).toLocaleTimeString() : "at start";
  $("reload-state").textContent = (state.ok ? "Loaded " : "Refused ") + when + " from " + state.source;
  $("reload-state").className = state.ok ? "state-ok" : "state-bad";
  $("reload-problems").replaceChildren(...state.problems.map(problemItem));
}

function fillChoices(config) {
  $("provider-types").replaceChildren(...config.provider_types.map((name) => new Option(name)));
  const strategy = $("m-strategy");
  const chosen = strategy.value || "ordered";
  strategy.replaceChildren(...config.strategies.map((name) => new Option(name, name)));
  strategy.value = chosen;
}

async function refresh() {
  const { ok, data } = await api("GET", "/admin/api/config");
  if (!ok) {
    if (token()) showErrors(data, "Loading");
    return;
  }
  $("where").textContent = data.editable ? "Config file: " + data.path : "In-memory config (read only)";
  $("file-problem").hidden = !data.file_problem;
  $("file-problem-message").textContent = data.file_problem || "";
  renderReload(data.last_reload);
  renderProviders(data.providers);
  renderModels(data.models);
  fillChoices(data);
}

// -- changes ---------------------------------------------------------------------------------

async function change(method, path, body, what) {
  clearErrors();
  const { ok, data } = await api(method, path, body);
  if (ok) notice(what + " saved and reloaded.");
  else showErrors(data, what);
  await refresh();
  return ok;
}

function list(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

function providerBody() {
  const body = { type: $("p-type").value.trim() };
  const base = $("p-base").value.trim();
  const models = list($("p-models").value);
  const env = $("p-env").value.trim();
  const literal = $("p-literal").value;
  if (editingProvider) {
    // PATCH: an emptied field removes its key; an empty key field keeps the key as it is.
    body.base_url = base || null;
    body.models = models.length ? models : null;
  } else {
    body.id = $("p-id").value.trim();
    if (base) body.base_url = base;
    if (models.length) body.models = models;
  }
  if (env) body.api_key_env = env;
  else if (literal) body.api_key = literal;
  return body;
}

function resetProviderForm() {
  editingProvider = null;
  $("provider-form").reset();
  $("p-id").readOnly = false;
  $("provider-legend").textContent = "Add a provider";
  $("p-submit").textContent = "Add provider";
  $("p-cancel").hidden = true;
}

function editProvider(p) {
  editingProvider = p.id;
  $("p-id").value = p.id;
  $("p-id").readOnly = true;
  $("p-type").value = p.type || "";
  $("p-base").value = p.base_url || "";
  $("p-models").value = (p.models || []).join(", ");
  $("p-env").value = p.key && p.key.env ? p.key.env : "";
  $("p-literal").value = "";
  $("provider-legend").textContent = "Edit provider " + p.id;
  $("p-submit").textContent = "Save provider";
  $("p-cancel").hidden = false;
  $("p-type").focus();
}

function resetModelForm() {
  editingModel = null;
  $("model-form").reset();
  $("m-alias").readOnly = false;
  $("model-legend").textContent = "Add an alias";
  $("m-submit").textContent = "Add alias";
  $("m-cancel").hidden = true;
}

function editModel(m) {
  editingModel = m.alias;
  $("m-alias").value = m.alias;
  $("m-alias").readOnly = true;
  $("m-targets").value = (m.targets || []).join(", ");
  $("m-strategy").value = m.strategy || "ordered";
  $("model-legend").textContent = "Edit alias " + m.alias;
  $("m-submit").textContent = "Save alias";
  $("m-cancel").hidden = false;
  $("m-targets").focus();
}

async function remove(section, kind, name) {
  if (!window.confirm("Delete " + kind + " " + name + " from the config file?")) return;
  await change("DELETE", "/admin/api/" + section + "/" + encodeURIComponent(name), undefined,
    "Deleting " + kind + " " + name);
}

// -- sign in ---------------------------------------------------------------------------------

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  $("app").hidden = true;
  $("signin").hidden = false;
  $("signin-message").textContent = message || "";
}

async function signIn(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
  const { ok, data } = await api("GET", "/admin/api/config");
  if (!ok) {
    if (token()) signOut((data && data.error && data.error.message) || "Sign-in failed.");
    return;
  }
  $("signin").hidden = true;
  $("app").hidden = false;
  $("signin-message").textContent = "";
  await refresh();
}

function wire() {
  $("token-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = $("token").value;
    $("token").value = "";
    await signIn(value);
  });
  $("signout").addEventListener("click", () => signOut("Signed out."));
  $("errors-close").addEventListener("click", clearErrors);
  $("reload").addEventListener("click", async () => {
    clearErrors();
    const { ok, data } = await api("POST", "/admin/reload");
    if (ok) notice("Config reloaded.");
    else showErrors(data, "Reloading");
    await refresh();
  });
  $("provider-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = providerBody();
    const ok = editingProvider
      ? await change("PATCH", "/admin/api/providers/" + encodeURIComponent(editingProvider), body,
        "Provider " + editingProvider)
      : await change("POST", "/admin/api/providers", body, "Provider " + body.id);
    if (ok) resetProviderForm();
  });
  $("p-cancel").addEventListener("click", resetProviderForm);
  $("model-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { targets: list($("m-targets").value) };
    const strategy = $("m-strategy").value || "ordered";
    // "ordered" is the default: leave it out of the file rather than spell it.
    if (strategy !== "ordered") body.strategy = strategy;
    else if (editingModel) body.strategy = null;
    const name = editingModel || $("m-alias").value.trim();
    const ok = editingModel
      ? await change("PATCH", "/admin/api/models/" + encodeURIComponent(name), body, "Alias " + name)
      : await change("POST", "/admin/api/models", { alias: name, ...body }, "Alias " + name);
    if (ok) resetModelForm();
  });
  $("m-cancel").addEventListener("click", resetModelForm);
  if (token()) signIn(token());
}

wire();
