// The Providers page: the providers of gateway.toml with their live health, a Test button, and
// the by-type form that adds or edits one (vendors are added through the "Add model" dialog).

import { api, errorOf, missingRoute } from "./api.js";
import { change } from "./changes.js";
import { $, badge, cell, el, emptyRow, list } from "./dom.js";
import { clearError, notify } from "./feedback.js";
import { breakersText, providerHealth, trafficText } from "./health_state.js";
import { canWrite, overviewProvider, state } from "./state.js";

const WHERE = { notice: "providers-notice", errors: "providers-errors" };
const FORM = { notice: "providers-notice", errors: "provider-form-errors" };
let editing = null;

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

function actions(p) {
  const buttons = el("div", { className: "buttons" });
  const td = cell("Actions", buttons, "actions");
  // Testing spends the vendor's tokens: like every change, it needs the admin token.
  if (canWrite()) {
    buttons.append(
      rowButton("Test", "Test provider " + p.id, "test-provider-" + p.id, () => test(p.id)),
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
  const types = (state.config && state.config.provider_types) || [];
  $("provider-types").replaceChildren(...types.map((name) => el("option", { value: name })));
}

// -- test ------------------------------------------------------------------------------------

async function test(id) {
  const out = $("provider-test-result");
  out.className = "test-result";
  out.textContent = "Testing " + id + "…";
  const answer = await api("POST", "/admin/api/providers/" + encodeURIComponent(id) + "/test");
  if (missingRoute(answer)) {
    out.textContent = "Testing a provider needs a newer gateway (POST /admin/api/providers/{id}/test).";
    return;
  }
  if (!answer.ok) {
    out.className = "test-result bad";
    out.textContent = "Test of " + id + " could not run: " + errorOf(answer).message;
    return;
  }
  const r = answer.data;
  const parts = ["Test of " + id + (r.model ? " (" + r.model + ")" : "") + ": " + (r.ok ? "OK" : "failed")];
  if (r.status !== null && r.status !== undefined) parts.push("HTTP " + r.status);
  if (r.latency_ms !== null && r.latency_ms !== undefined) parts.push(Math.round(r.latency_ms) + " ms");
  out.className = "test-result " + (r.ok ? "ok" : "bad");
  out.textContent = parts.join(", ") + (r.error ? ". " + r.error : ".");
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
  const result = { type: $("p-type").value.trim() };
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
}

function edit(p) {
  reset();
  editing = p.id;
  $("p-id").value = p.id;
  $("p-id").readOnly = true;
  $("p-type").value = p.type || "";
  $("p-base").value = p.base_url || "";
  $("p-models").value = (p.models || []).join(", ");
  $("p-env").value = p.key && p.key.env ? p.key.env : "";
  $("provider-legend").textContent = "Edit provider " + p.id;
  $("p-submit").textContent = "Save provider";
  $("p-cancel").hidden = false;
  $("p-type").focus();
}

async function remove(id) {
  if (!window.confirm("Delete provider " + id + " from the config file?")) return;
  const answer = await change("DELETE", "/admin/api/providers/" + encodeURIComponent(id), undefined,
    "Deleting provider " + id, { ...WHERE, origin: "delete-provider-" + id, after: $("providers-title") });
  if (answer.ok) notify(WHERE.notice, "Provider " + id + " deleted; config saved and reloaded.");
}

async function submit(event) {
  event.preventDefault();
  const sent = body();
  const id = editing || sent.id;
  const wasEditing = editing;
  const answer = wasEditing
    ? await change("PATCH", "/admin/api/providers/" + encodeURIComponent(id), sent, "Provider " + id,
      { ...FORM, origin: "provider-submit", after: "edit-provider-" + id })
    : await change("POST", "/admin/api/providers", sent, "Provider " + id,
      { ...FORM, origin: "provider-submit", after: "edit-provider-" + id });
  if (answer.ok) reset();
}

export function init() {
  $("p-submit").dataset.focus = "provider-submit";
  $("p-manual").addEventListener("change", syncKeyFields);
  $("provider-form").addEventListener("submit", submit);
  $("p-cancel").addEventListener("click", () => {
    const id = editing;
    reset();
    const back = document.querySelector(`[data-focus="edit-provider-${CSS.escape(id || "")}"]`);
    (back || $("p-id")).focus();
  });
  syncKeyFields();
}
