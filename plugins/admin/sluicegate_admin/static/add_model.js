// The "Add model" dialog: pick a vendor preset (GET /admin/api/presets), name the provider, model
// and alias, fill in the preset's own fields (a region, a project: preset_fields.js), and say how
// the key is given. By default the key is an environment variable reference (api_key = "${VAR}");
// only with "Enter API key manually" checked is the API key input enabled, and unchecking clears
// it, so a password manager's autofill can never be submitted unseen. One POST
// /admin/api/add-model writes the provider (if new) and the alias.

import { api, errorOf, missingRoute } from "./api.js";
import { $, el, problemItem } from "./dom.js";
import { notify } from "./feedback.js";
import { clearFieldErrors, showFieldError } from "./field_errors.js";
import { Modal } from "./modal.js";
import * as presetFields from "./preset_fields.js";

// The response's error.param -> the input it is about.
const FIELDS = {
  preset: "add-vendor",
  provider_id: "add-provider-id",
  base_url: "add-base-url",
  model: "add-model-name",
  alias: "add-alias",
  api_key_env: "add-key-env",
  api_key: "add-api-key",
};

let presets = null;
let modal = null;
let afterAdd = async () => {};
// Derived fields follow their source until the user types in them.
const touched = { alias: false, env: false };

function chosen() {
  return (presets || []).find((preset) => preset.id === $("add-vendor").value) || null;
}

// The OpenAI-compatible preset has no key variable of its own: it is named after the provider id.
export function keyVariable(providerId) {
  const stem = providerId.trim().toUpperCase().replace(/[^A-Z0-9]/g, "_");
  return stem ? stem + "_API_KEY" : "";
}

const CUSTOM = "custom";

function isCustom(preset) { return Boolean(preset) && preset.id === CUSTOM; }

// A preset with no URL of its own needs one, unless its type works it out (from the region).
function needsBaseUrl(preset) { return Boolean(preset) && !preset.base_url && !preset.base_url_optional; }

function syncKeyFields() {
  const manual = $("add-key-manual").checked;
  const key = $("add-api-key");
  key.disabled = !manual;
  if (!manual) key.value = "";
  $("add-key-env").disabled = manual;
}

function syncDerived() {
  const preset = chosen();
  if (!touched.env && isCustom(preset)) $("add-key-env").value = keyVariable($("add-provider-id").value);
  if (!touched.alias) $("add-alias").value = $("add-model-name").value.trim();
}

function applyPreset() {
  const preset = chosen();
  clearErrors();
  if (!preset) return;
  $("add-type-value").textContent = preset.type;
  $("add-vendor-note").textContent = preset.note || "";
  $("add-provider-id").value = isCustom(preset) ? "" : preset.id;
  $("add-base-url").value = preset.base_url || "";
  $("add-base-url-label").textContent = "Base URL" + (preset.base_url_optional ? " (optional)" : "");
  $("add-base-url-hint").textContent = preset.base_url_hint || "";
  $("add-base-url-hint").hidden = !preset.base_url_hint;
  presetFields.render($("add-options"), preset.fields);
  const models = preset.models || [];
  $("add-model-choices").replaceChildren(...models.map((model) => el("option", { value: model })));
  $("add-model-name").value = models[0] || "";
  touched.alias = false;
  touched.env = false;
  $("add-key-env").value = isCustom(preset) ? keyVariable($("add-provider-id").value) : preset.key_env || "";
  $("add-key-env-label").textContent = "Key variable" + (preset.key_optional ? " (optional)" : "");
  syncDerived();
}

// -- errors ----------------------------------------------------------------------------------

function clearErrors() {
  const alert = $("add-model-errors");
  alert.hidden = true;
  alert.replaceChildren();
  clearFieldErrors([...Object.values(FIELDS), ...presetFields.inputIds($("add-options"))]);
}

function alertError(text, problems) {
  const alert = $("add-model-errors");
  alert.replaceChildren(el("p", {}, text));
  if (problems && problems.length) alert.append(el("ul", {}, ...problems.map(problemItem)));
  alert.hidden = false;
  alert.focus();
}

function showAnswerError(answer) {
  const error = errorOf(answer);
  const option = presetFields.inputForParam(error.param);
  const inputId = option ? option.id : FIELDS[error.param];
  if (inputId && !$(inputId).disabled) {
    showFieldError(inputId, error.message);
    $(inputId).focus();
  } else if (error.problems.length) {
    alertError("The config refused this model; nothing was written:", error.problems);
  } else {
    alertError(error.message);
  }
}

// Empty fields are named before a round trip, next to the field, like the server's own errors.
function checkFilled() {
  const missing = [];
  const need = (id, text) => { if (!$(id).value.trim()) missing.push([id, text]); };
  need("add-provider-id", "Enter a provider id, such as deepseek.");
  missing.push(...presetFields.missing($("add-options")));
  if (needsBaseUrl(chosen())) need("add-base-url", ("Enter the base URL. " + (chosen().base_url_hint || "")).trim());
  need("add-model-name", "Enter the model name the vendor uses.");
  need("add-alias", "Enter the alias clients will ask for.");
  if ($("add-key-manual").checked) {
    if (!$("add-api-key").value) missing.push(["add-api-key", "Enter the API key, or uncheck \"Enter API key manually\"."]);
  } else if (!(chosen() && chosen().key_optional)) {
    need("add-key-env", "Enter the environment variable that holds the key.");
  }
  for (const [id, text] of missing) showFieldError(id, text);
  if (missing.length) $(missing[0][0]).focus();
  return missing.length === 0;
}

// -- open / submit ---------------------------------------------------------------------------

async function loadPresets() {
  if (presets) return true;
  const answer = await api("GET", "/admin/api/presets");
  if (!answer.ok) {
    alertError(missingRoute(answer)
      ? "Vendor presets need a newer gateway (GET /admin/api/presets is missing)."
      : "The vendor presets could not be loaded: " + errorOf(answer).message);
    return false;
  }
  presets = answer.data.data || [];
  $("add-vendor").replaceChildren(...presets.map((preset) => {
    const option = new Option(preset.label + (preset.available === false ? " (not installed)" : ""), preset.id);
    option.disabled = preset.available === false;
    return option;
  }));
  const first = presets.find((preset) => preset.available !== false);
  if (first) $("add-vendor").value = first.id;
  return true;
}

async function open(opener) {
  $("add-model-form").reset();
  clearErrors();
  syncKeyFields();
  modal.open(opener, $("add-vendor"));
  if (await loadPresets()) applyPreset();
}

async function submit(event) {
  event.preventDefault();
  clearErrors();
  if (!checkFilled()) return;
  const alias = $("add-alias").value.trim();
  const body = {
    preset: $("add-vendor").value,
    provider_id: $("add-provider-id").value.trim(),
    model: $("add-model-name").value.trim(),
    alias,
  };
  const base = $("add-base-url").value.trim();
  if (base) body.base_url = base;
  const preset = chosen();
  if (preset && preset.fields && preset.fields.length) body.options = presetFields.values($("add-options"));
  if ($("add-key-manual").checked) body.api_key = $("add-api-key").value;
  else if ($("add-key-env").value.trim()) body.api_key_env = $("add-key-env").value.trim();
  // else: a local server (Ollama, vLLM) that needs no key gets no key line.
  const save = $("add-model-save");
  save.disabled = true;
  const answer = await api("POST", "/admin/api/add-model", body);
  save.disabled = false;
  if (!answer.ok) {
    showAnswerError(answer);
    return;
  }
  const opener = modal.opener;
  const page = opener && opener.closest(".page");
  const notice = page && page.querySelector(".notice");
  const provider = (answer.data && answer.data.provider) || body.provider_id;
  modal.close(); // focus goes back to the "Add model" button
  await afterAdd();
  if (notice) notify(notice.id, "Added model " + alias + " (provider " + provider + "); config saved and reloaded.");
}

// onAdded: reloads and redraws the lists after a model was added.
export function init(onAdded) {
  afterAdd = onAdded;
  modal = new Modal($("add-model"), {
    onClose: () => {
      // Nothing typed (a key above all) outlives the dialog.
      $("add-model-form").reset();
      syncKeyFields();
      clearErrors();
    },
  });
  for (const button of document.querySelectorAll("[data-open='add-model']")) {
    button.addEventListener("click", () => open(button));
  }
  $("add-vendor").addEventListener("change", applyPreset);
  $("add-key-manual").addEventListener("change", syncKeyFields);
  $("add-provider-id").addEventListener("input", syncDerived);
  $("add-model-name").addEventListener("input", syncDerived);
  $("add-alias").addEventListener("input", () => { touched.alias = true; });
  $("add-key-env").addEventListener("input", () => { touched.env = true; });
  $("add-model-cancel").addEventListener("click", () => modal.close());
  $("add-model-form").addEventListener("submit", submit);
}
