// The Models page: aliases, their targets and strategy, and the form that adds or edits one
// (target suggestions from the providers' models; weights only for the weighted strategy).

import { change } from "./changes.js";
import { $, badge, cell, el, emptyRow, list } from "./dom.js";
import { clearError, notify } from "./feedback.js";
import { canWrite, state } from "./state.js";

const WHERE = { notice: "models-notice", errors: "models-errors" };
const FORM = { notice: "models-notice", errors: "model-form-errors" };
let editing = null;

function targetsText(m) {
  const targets = m.targets || [];
  if (m.strategy === "weighted" && Array.isArray(m.weights) && m.weights.length === targets.length) {
    return targets.map((t, i) => t + " ×" + m.weights[i]).join(", ");
  }
  return targets.join(", ");
}

function actions(m) {
  const buttons = el("div", { className: "buttons" });
  const td = cell("Actions", buttons, "actions");
  if (!canWrite()) return td;
  buttons.append(
    el("button", { type: "button", "aria-label": "Edit alias " + m.alias, "data-focus": "edit-alias-" + m.alias,
      onclick: () => edit(m) }, "Edit"),
    el("button", { type: "button", "aria-label": "Delete alias " + m.alias, "data-focus": "delete-alias-" + m.alias,
      onclick: () => remove(m.alias) }, "Delete"));
  return td;
}

export function render() {
  const models = (state.config && state.config.models) || [];
  const rows = models.map((m) => el("tr", { "data-alias": m.alias },
    cell("Alias", m.alias), cell("Targets", targetsText(m)), cell("Strategy", m.strategy || "ordered"),
    cell("State", m.serving ? badge("ok", "serving") : badge("bad", "not serving")),
    actions(m)));
  $("models").tBodies[0].replaceChildren(...(rows.length ? rows : [emptyRow(5, "No aliases.")]));
  fillChoices();
}

function fillChoices() {
  const config = state.config || {};
  const strategy = $("m-strategy");
  const chosen = strategy.value || "ordered";
  strategy.replaceChildren(...(config.strategies || ["ordered"]).map((name) => new Option(name, name)));
  strategy.value = chosen;
  const targets = [];
  for (const p of config.providers || []) {
    for (const model of p.models || []) targets.push(p.id + "/" + model);
    targets.push(p.id + "/*");
  }
  $("known-targets").replaceChildren(...targets.map((t) => el("option", { value: t })));
  syncWeights();
}

function syncWeights() {
  const weighted = $("m-strategy").value === "weighted";
  $("m-weights").disabled = !weighted;
  if (!weighted) $("m-weights").value = "";
}

function reset() {
  editing = null;
  $("model-form").reset();
  $("m-alias").readOnly = false;
  $("model-legend").textContent = "Add an alias";
  $("m-submit").textContent = "Add alias";
  $("m-cancel").hidden = true;
  syncWeights();
  clearError(FORM.errors);
}

function edit(m) {
  reset();
  editing = m.alias;
  $("m-alias").value = m.alias;
  $("m-alias").readOnly = true;
  $("m-targets").value = (m.targets || []).join(", ");
  $("m-strategy").value = m.strategy || "ordered";
  syncWeights();
  if (Array.isArray(m.weights)) $("m-weights").value = m.weights.join(", ");
  $("model-legend").textContent = "Edit alias " + m.alias;
  $("m-submit").textContent = "Save alias";
  $("m-cancel").hidden = false;
  $("m-targets").focus();
}

async function remove(alias) {
  if (!window.confirm("Delete alias " + alias + " from the config file?")) return;
  const answer = await change("DELETE", "/admin/api/models/" + encodeURIComponent(alias), undefined,
    "Deleting alias " + alias, { ...WHERE, origin: "delete-alias-" + alias, after: $("models-title") });
  if (answer.ok) notify(WHERE.notice, "Alias " + alias + " deleted; config saved and reloaded.");
}

function weights() {
  return list($("m-weights").value).map(Number);
}

async function submit(event) {
  event.preventDefault();
  const sent = { targets: list($("m-targets").value) };
  const strategy = $("m-strategy").value || "ordered";
  // "ordered" is the default: leave it out of the file rather than spell it.
  if (strategy !== "ordered") sent.strategy = strategy;
  else if (editing) sent.strategy = null;
  if (strategy === "weighted") sent.weights = weights();
  else if (editing) sent.weights = null;
  const name = editing || $("m-alias").value.trim();
  const where = { ...FORM, origin: "alias-submit", after: "edit-alias-" + name };
  const answer = editing
    ? await change("PATCH", "/admin/api/models/" + encodeURIComponent(name), sent, "Alias " + name, where)
    : await change("POST", "/admin/api/models", { alias: name, ...sent }, "Alias " + name, where);
  if (answer.ok) reset();
}

export function init() {
  $("m-submit").dataset.focus = "alias-submit";
  $("m-strategy").addEventListener("change", syncWeights);
  $("model-form").addEventListener("submit", submit);
  $("m-cancel").addEventListener("click", () => {
    const alias = editing;
    reset();
    const back = document.querySelector(`[data-focus="edit-alias-${CSS.escape(alias || "")}"]`);
    (back || $("m-alias")).focus();
  });
}
