// The Models page: aliases, their targets and strategy, and the form that adds or edits one. Each
// target is picked as a provider (from the live config) and one of its models (the ones it lists
// or aliases already use; any other name can be typed), in order of preference, with a weight
// each when the strategy is "weighted".

import { change } from "./changes.js";
import { $, badge, cell, el, emptyRow } from "./dom.js";
import { clearError, notify } from "./feedback.js";
import { clearFieldErrors, showFieldError } from "./field_errors.js";
import { canWrite, state } from "./state.js";

const WHERE = { notice: "models-notice", errors: "models-errors" };
const FORM = { notice: "models-notice", errors: "model-form-errors" };
let editing = null;
let rowCount = 0; // ids of target rows, never reused

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

// -- the choices the live config offers ------------------------------------------------------

function providerIds() {
  return ((state.config && state.config.providers) || []).map((p) => p.id);
}

// A provider's models: those it lists, then those aliases send to it; "*" forwards the name asked.
export function modelsOf(providerId) {
  const config = state.config || {};
  const found = [];
  const p = (config.providers || []).find((entry) => entry.id === providerId);
  for (const model of (p && p.models) || []) found.push(model);
  for (const alias of config.models || []) {
    for (const target of alias.targets || []) {
      const cut = target.indexOf("/");
      if (cut > 0 && target.slice(0, cut) === providerId) found.push(target.slice(cut + 1));
    }
  }
  found.push("*");
  return [...new Set(found)];
}

function fillChoices() {
  const config = state.config || {};
  const strategy = $("m-strategy");
  const chosen = strategy.value || "ordered";
  const names = config.strategies || ["ordered"];
  if ([...strategy.options].map((o) => o.value).join() !== names.join()) {
    strategy.replaceChildren(...names.map((name) => new Option(name, name)));
  }
  strategy.value = names.includes(chosen) ? chosen : "ordered";
  // Provider lists follow the config; what each row has chosen stays.
  for (const row of $("m-targets").querySelectorAll(".target-row")) fillRow(row);
  if (!$("m-targets").querySelector(".target-row")) addTarget("", "", null, { focus: false });
  syncWeights();
}

// -- target rows ---------------------------------------------------------------------------

function fillRow(row) {
  const select = row.querySelector("select");
  const chosen = select.value || select.dataset.initial || "";
  const ids = providerIds();
  if (chosen && !ids.includes(chosen)) ids.push(chosen); // a provider gone from the config stays visible
  const values = ["", ...ids];
  if ([...select.options].map((o) => o.value).join() !== values.join()) {
    select.replaceChildren(new Option("(choose)", ""), ...ids.map((id) => new Option(id, id)));
  }
  select.value = chosen;
  const list = row.querySelector("datalist");
  const models = select.value ? modelsOf(select.value) : [];
  list.replaceChildren(...models.map((model) => el("option", { value: model })));
}

function numberRows() {
  const rows = [...$("m-targets").querySelectorAll(".target-row")];
  rows.forEach((row, index) => {
    const n = index + 1;
    row.querySelector(".target-number").textContent = "Target " + n + (n === 1 ? " (first choice)" : "");
    row.querySelector("label.provider").textContent = "Provider for target " + n;
    row.querySelector("label.model").textContent = "Model for target " + n;
    row.querySelector("label.weight").textContent = "Weight of target " + n;
    const [up, down, remove] = row.querySelectorAll(".row-buttons button");
    up.setAttribute("aria-label", "Move target " + n + " up");
    down.setAttribute("aria-label", "Move target " + n + " down");
    remove.setAttribute("aria-label", "Remove target " + n);
    up.disabled = index === 0;
    down.disabled = index === rows.length - 1;
    remove.disabled = rows.length === 1;
  });
}

function addTarget(provider, model, weight, { focus }) {
  rowCount += 1;
  const n = rowCount;
  const select = el("select", { id: "mt-provider-" + n, name: "target-provider-" + n, "data-initial": provider || "",
    "aria-describedby": "mt-provider-" + n + "-error" });
  const modelInput = el("input", { id: "mt-model-" + n, name: "target-model-" + n, list: "mt-models-" + n,
    autocomplete: "off", spellcheck: "false", value: model || "", "aria-describedby": "mt-model-" + n + "-error" });
  const weightInput = el("input", { id: "mt-weight-" + n, name: "target-weight-" + n, inputmode: "decimal",
    autocomplete: "off", value: weight === null || weight === undefined ? "" : String(weight), placeholder: "1",
    "aria-describedby": "mt-weight-" + n + "-error" });
  const button = (text, onClick) => el("button", { type: "button", onclick: onClick }, text);
  const row = el("li", { className: "target-row", "data-row": String(n) },
    el("p", { className: "target-number" }),
    el("div", { className: "target-fields" },
      el("div", { className: "field" }, el("label", { className: "provider", for: select.id }), select,
        el("p", { className: "field-error", id: select.id + "-error", hidden: true })),
      el("div", { className: "field" }, el("label", { className: "model", for: modelInput.id }), modelInput,
        el("datalist", { id: "mt-models-" + n }),
        el("p", { className: "field-error", id: modelInput.id + "-error", hidden: true })),
      el("div", { className: "field weight" }, el("label", { className: "weight", for: weightInput.id }), weightInput,
        el("p", { className: "field-error", id: weightInput.id + "-error", hidden: true }))),
    el("div", { className: "row-buttons" },
      button("Up", () => move(row, -1)), button("Down", () => move(row, 1)), button("Remove", () => dropTarget(row))));
  select.addEventListener("change", () => fillRow(row));
  $("m-targets").append(row);
  fillRow(row);
  numberRows();
  syncWeights();
  if (focus) select.focus();
  return row;
}

function move(row, step) {
  const sibling = step < 0 ? row.previousElementSibling : row.nextElementSibling;
  if (!sibling) return;
  if (step < 0) sibling.before(row);
  else sibling.after(row);
  numberRows();
  // Focus follows the button pressed, unless the row reached an end where it is disabled.
  const [up, down] = row.querySelectorAll(".row-buttons button");
  (step < 0 ? (up.disabled ? down : up) : (down.disabled ? up : down)).focus();
}

function dropTarget(row) {
  const next = row.nextElementSibling || row.previousElementSibling;
  row.remove();
  numberRows();
  (next ? next.querySelector("select") : $("m-add-target")).focus();
}

function syncWeights() {
  const weighted = $("m-strategy").value === "weighted";
  for (const box of $("m-targets").querySelectorAll(".field.weight")) box.hidden = !weighted;
  $("m-weights-hint").hidden = !weighted;
}

function clearRows() {
  $("m-targets").replaceChildren();
}

// -- the form ------------------------------------------------------------------------------

function reset() {
  editing = null;
  $("model-form").reset();
  clearRows();
  addTarget("", "", null, { focus: false });
  $("m-alias").readOnly = false;
  $("model-legend").textContent = "Add an alias";
  $("m-submit").textContent = "Add alias";
  $("m-cancel").hidden = true;
  syncWeights();
  clearError(FORM.errors);
  clearFieldErrors(["m-alias"]);
}

function edit(m) {
  reset();
  editing = m.alias;
  $("m-alias").value = m.alias;
  $("m-alias").readOnly = true;
  $("m-strategy").value = m.strategy || "ordered";
  clearRows();
  const weights = Array.isArray(m.weights) ? m.weights : [];
  (m.targets || []).forEach((target, index) => {
    const cut = target.indexOf("/");
    addTarget(cut > 0 ? target.slice(0, cut) : target, cut > 0 ? target.slice(cut + 1) : "",
      weights[index] === undefined ? null : weights[index], { focus: false });
  });
  if (!(m.targets || []).length) addTarget("", "", null, { focus: false });
  syncWeights();
  $("model-legend").textContent = "Edit alias " + m.alias;
  $("m-submit").textContent = "Save alias";
  $("m-cancel").hidden = false;
  $("model-form").scrollIntoView({ block: "start" });
  $("m-strategy").focus();
}

async function remove(alias) {
  if (!window.confirm("Delete alias " + alias + " from the config file?")) return;
  const answer = await change("DELETE", "/admin/api/models/" + encodeURIComponent(alias), undefined,
    "Deleting alias " + alias, { ...WHERE, origin: "delete-alias-" + alias, after: $("models-title") });
  if (answer.ok) notify(WHERE.notice, "Alias " + alias + " deleted; config saved and reloaded.");
}

function rowInputs() {
  return [...$("m-targets").querySelectorAll(".target-row")].map((row) => {
    const [select] = row.querySelectorAll("select");
    const [model, weight] = row.querySelectorAll("input");
    return { select, model, weight };
  });
}

// Targets and weights from the rows; null (the errors under their inputs) when one is incomplete.
function readTargets(weighted) {
  const ids = [];
  for (const { select, model, weight } of rowInputs()) ids.push(select.id, model.id, weight.id);
  clearFieldErrors(ids);
  const targets = [];
  const weights = [];
  let ok = true;
  for (const { select, model, weight } of rowInputs()) {
    const name = model.value.trim();
    if (!select.value && !name) continue; // an empty row is no target
    if (!select.value) { showFieldError(select.id, "Choose the provider."); ok = false; }
    if (!name || /\s/.test(name)) { showFieldError(model.id, "Enter the model name (no spaces), or * for any."); ok = false; }
    if (weighted) {
      const text = weight.value.trim();
      const value = text ? Number(text) : 1;
      if (!Number.isFinite(value) || value < 0) { showFieldError(weight.id, "Enter a weight, 0 or more."); ok = false; }
      weights.push(value);
    }
    targets.push(select.value + "/" + name);
  }
  if (ok && !targets.length) {
    const first = rowInputs()[0];
    showFieldError(first.select.id, "Pick at least one target.");
    ok = false;
  }
  return ok ? { targets, weights } : null;
}

async function submit(event) {
  event.preventDefault();
  clearFieldErrors(["m-alias"]);
  const strategy = $("m-strategy").value || "ordered";
  const name = editing || $("m-alias").value.trim();
  if (!editing && !name) showFieldError("m-alias", "Enter the alias clients will send as \"model\".");
  const picked = readTargets(strategy === "weighted");
  if (!picked || !name) {
    $("model-form").querySelector("[aria-invalid='true']").focus();
    return;
  }
  const sent = { targets: picked.targets };
  // "ordered" is the default: leave it out of the file rather than spell it.
  if (strategy !== "ordered") sent.strategy = strategy;
  else if (editing) sent.strategy = null;
  if (strategy === "weighted") sent.weights = picked.weights;
  else if (editing) sent.weights = null;
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
  $("m-add-target").addEventListener("click", () => addTarget("", "", null, { focus: true }));
  $("m-cancel").addEventListener("click", () => {
    const alias = editing;
    reset();
    const back = document.querySelector(`[data-focus="edit-alias-${CSS.escape(alias || "")}"]`);
    (back || $("m-alias")).focus();
  });
}
