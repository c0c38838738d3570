// The Providers page: the providers of gateway.toml with their live health, a Test button whose
// result (status, latency, the scrubbed error) shows in that provider's row, and the form that
// adds or edits one with every option its type accepts (vendors are added through "Add model").

import { api, errorOf, missingRoute } from "./api.js";
import { change } from "./changes.js";
import { $, badge, cell, el, emptyRow, list } from "./dom.js";
import { clearError, notify } from "./feedback.js";
import { breakersText, providerHealth, trafficText } from "./health_state.js";
import { addHeader, clearOptionErrors, drawOptions, inputFor, loadTypes, readOptions, typeNames } from "./provider_options.js";
import { showFieldError } from "./field_errors.js";
import { canWrite, overviewProvider, state } from "./state.js";

const WHERE = { notice: "providers-notice", errors: "providers-errors" };
const FORM = { notice: "providers-notice", errors: "provider-form-errors" };
let editing = null; // the provider being edited (its config view entry), or null when adding
// Test results by provider id, kept across the page's redraws: {pending} | the API's answer | {failed}.
const results = new Map();

export function keyText(key) {
  if (!key) return "none";
  if (key.literal) return "literal (hidden)";
  // Without the file (it does not parse) only whether the serving key is set is known.
  if (!key.env) return key.set ? "set" : "not set";
  return "${" + key.env + "} " + (key.set ? "(set)" : "(not set)");
}

function rowButton(text, label, focus, onClick) {
  return el("button", { type: "button", "aria-label": label, "data-focus": focus, onclick: onClick }, text);
}

function resultText(id, r) {
  if (r.pending) return "Testing…";
  if (r.failed) return "Could not test: " + r.failed;
  const parts = [(r.ok ? "OK" : "Failed") + (r.model ? " (" + r.model + ")" : "")];
  if (r.status !== null && r.status !== undefined) parts.push("HTTP " + r.status);
  if (r.latency_ms !== null && r.latency_ms !== undefined) parts.push(Math.round(r.latency_ms) + " ms");
  return parts.join(", ") + (r.error ? ": " + r.error : "");
}

function testResult(id) {
  const r = results.get(id);
  if (!r) return null;
  const level = r.pending ? "" : r.ok ? " ok" : " bad";
  return el("p", { className: "test-result" + level, id: "test-result-" + id, "data-test-result": id },
    el("span", { className: "sr-only" }, "Test of " + id + ": "), resultText(id, r));
}

function actions(p) {
  const buttons = el("div", { className: "buttons" });
  const td = cell("Actions", el("div", {}, buttons, testResult(p.id)), "actions");
  // Testing spends the vendor's tokens: like every change, it needs the admin token.
  if (canWrite()) {
    const testing = results.get(p.id) && results.get(p.id).pending;
    buttons.append(
      el("button", { type: "button", "aria-label": "Test provider " + p.id, "data-focus": "test-provider-" + p.id,
        "aria-describedby": results.has(p.id) ? "test-result-" + p.id : null, "aria-disabled": testing ? "true" : null,
        onclick: () => test(p.id) }, "Test"),
      rowButton("Edit", "Edit provider " + p.id, "edit-provider-" + p.id, () => edit(p)),
      rowButton("Delete", "Delete provider " + p.id, "delete-provider-" + p.id, () => remove(p.id)));
  }
  return td;
}

export function render() {
  const providers = (state.config && state.config.providers) || [];
  const rows = providers.map((p) => {
    const health = providerHealth(p, overviewProvider(p.id));
    return el("tr", { "data-provider": p.id },
      cell("Id", p.id), cell("Type", p.type || ""), cell("Base URL", p.base_url || "(default)", "url"),
      cell("Key", keyText(p.key)), cell("Health", badge(health.level, health.text)),
      cell("Breakers", breakersText(p.targets)), cell("Last minute", trafficText(p.traffic)),
      actions(p));
  });
  $("providers").tBodies[0].replaceChildren(...(rows.length ? rows : [emptyRow(8, "No providers.")]));
  fillTypes();
}

function fillTypes() {
  const select = $("p-type");
  const names = new Set([...typeNames(), ...((state.config && state.config.provider_types) || [])]);
  if (editing && editing.type) names.add(editing.type); // a type no longer installed stays shown
  const chosen = select.value;
  const sorted = [...names].sort();
  const same = select.options.length === sorted.length && sorted.every((name, i) => select.options[i].value === name);
  if (!same) {
    select.replaceChildren(...sorted.map((name) => new Option(name, name)));
    select.value = sorted.includes(chosen) ? chosen : sorted.includes("openai") ? "openai" : sorted[0] || "";
    drawOptions(select.value, editing ? editing.options || {} : {});
  }
}

// -- test ------------------------------------------------------------------------------------

async function test(id) {
  if (results.get(id) && results.get(id).pending) return;
  results.set(id, { pending: true });
  render();
  const answer = await api("POST", "/admin/api/providers/" + encodeURIComponent(id) + "/test");
  if (missingRoute(answer)) results.set(id, { failed: "this gateway cannot test providers (it needs a newer admin plugin)." });
  else if (!answer.ok) results.set(id, { failed: errorOf(answer).message });
  else results.set(id, answer.data);
  render();
  // One announcement for screen readers; the row keeps the result in sight.
  $("provider-test-result").textContent = "Test of " + id + ": " + resultText(id, results.get(id));
  const button = document.querySelector(`[data-focus="test-provider-${CSS.escape(id)}"]`);
  if (button && (document.activeElement === document.body || !document.activeElement.isConnected)) button.focus();
}

// -- add / edit by type ----------------------------------------------------------------------

function syncKeyFields() {
  const manual = $("p-manual").checked;
  const literal = $("p-literal");
  literal.disabled = !manual;
  if (!manual) literal.value = "";
  $("p-env").disabled = manual;
}

function body() {
  const options = readOptions(Boolean(editing), editing ? editing.options || {} : {});
  if (!options) return null;
  const result = { type: $("p-type").value, ...options };
  const base = $("p-base").value.trim();
  const models = list($("p-models").value);
  if (editing) {
    // PATCH: an emptied field removes its key; no key given keeps the key as it is.
    result.base_url = base || null;
    result.models = models.length ? models : null;
  } else {
    result.id = $("p-id").value.trim();
    if (base) result.base_url = base;
    if (models.length) result.models = models;
  }
  if ($("p-manual").checked) {
    if ($("p-literal").value) result.api_key = $("p-literal").value;
  } else if ($("p-env").value.trim()) {
    result.api_key_env = $("p-env").value.trim();
  }
  return result;
}

function reset() {
  editing = null;
  $("provider-form").reset();
  syncKeyFields();
  $("p-id").readOnly = false;
  $("provider-legend").textContent = "Add a provider by type";
  $("p-submit").textContent = "Add provider";
  $("p-cancel").hidden = true;
  clearError(FORM.errors);
  fillTypes();
  if (!$("p-type").value && $("p-type").options.length) $("p-type").selectedIndex = 0;
  drawOptions($("p-type").value, {});
}

function edit(p) {
  reset();
  editing = p;
  fillTypes();
  $("p-id").value = p.id;
  $("p-id").readOnly = true;
  $("p-type").value = p.type || "";
  $("p-base").value = p.base_url || "";
  $("p-models").value = (p.models || []).join(", ");
  $("p-env").value = p.key && p.key.env ? p.key.env : "";
  drawOptions($("p-type").value, p.options || {});
  $("provider-legend").textContent = "Edit provider " + p.id;
  $("p-submit").textContent = "Save provider";
  $("p-cancel").hidden = false;
  $("provider-form").scrollIntoView({ block: "start" });
  $("p-type").focus();
}

async function remove(id) {
  if (!window.confirm("Delete provider " + id + " from the config file?")) return;
  const answer = await change("DELETE", "/admin/api/providers/" + encodeURIComponent(id), undefined,
    "Deleting provider " + id, { ...WHERE, origin: "delete-provider-" + id, after: $("providers-title") });
  if (answer.ok) notify(WHERE.notice, "Provider " + id + " deleted; config saved and reloaded.");
}

// Puts a refusal's message under the input it is about (error.param, or the config problems'
// paths); returns the first such input.
function markFields(answer) {
  const error = errorOf(answer);
  const params = [error.param, ...error.problems.map((problem) => problem.path)].filter(Boolean);
  let first = null;
  for (const param of params) {
    const input = inputFor(param);
    if (!input || !$(input.id + "-error")) continue;
    const problem = error.problems.find((item) => item.path === param);
    showFieldError(input.id, problem ? problem.message : error.message);
    first = first || input;
  }
  return first;
}

async function submit(event) {
  event.preventDefault();
  clearOptionErrors();
  clearError(FORM.errors);
  const sent = body();
  if (!sent) {
    const invalid = $("provider-form").querySelector("[aria-invalid='true']");
    if (invalid) invalid.focus();
    return;
  }
  const wasEditing = editing;
  const id = wasEditing ? wasEditing.id : sent.id;
  const where = { ...FORM, origin: "provider-submit", after: "edit-provider-" + id };
  const answer = wasEditing
    ? await change("PATCH", "/admin/api/providers/" + encodeURIComponent(id), sent, "Provider " + id, where)
    : await change("POST", "/admin/api/providers", sent, "Provider " + id, where);
  if (answer.ok) {
    reset();
    return;
  }
  const field = markFields(answer);
  if (field) field.focus();
}

export async function init() {
  $("p-submit").dataset.focus = "provider-submit";
  $("p-manual").addEventListener("change", syncKeyFields);
  $("provider-form").addEventListener("submit", submit);
  $("p-type").addEventListener("change", () => {
    clearOptionErrors();
    drawOptions($("p-type").value, editing && editing.type === $("p-type").value ? editing.options || {} : {});
  });
  $("p-add-header").addEventListener("click", addHeader);
  $("p-cancel").addEventListener("click", () => {
    const id = editing ? editing.id : "";
    reset();
    const back = document.querySelector(`[data-focus="edit-provider-${CSS.escape(id)}"]`);
    (back || $("p-id")).focus();
  });
  syncKeyFields();
}

// Called once signed in: the provider types' options come from the gateway.
export async function loadSchema() {
  await loadTypes();
  fillTypes();
  if (!editing) drawOptions($("p-type").value, {});
}
