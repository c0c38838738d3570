// The provider form's options: one input per option the chosen provider type accepts (from GET
// /admin/api/provider-types, so a plugin's own type gets its own options), and the headers as
// name/value rows. An empty input means "not in the file" (the type's default). Header values are
// like keys: never shown back; a row left empty keeps the value the file has ({"keep": true}).

import { api } from "./api.js";
import { $, el } from "./dom.js";
import { showFieldError } from "./field_errors.js";

// Set through their own inputs on the form, or by the API itself.
const OWN_FIELDS = new Set(["type", "base_url", "api_key", "models", "headers"]);
let types = null; // [{type, options: [{name, kind, nullable, required, default, help, type_specific}]}]
let headerCount = 0;
let originalHeaders = {}; // name -> masked state, as GET /admin/api/config shows it

export async function loadTypes() {
  if (types) return types;
  const answer = await api("GET", "/admin/api/provider-types");
  types = answer.ok && answer.data && Array.isArray(answer.data.data) ? answer.data.data : [];
  return types;
}

export function typeNames() { return (types || []).map((row) => row.type); }

function optionsOf(typeName) {
  const row = (types || []).find((entry) => entry.type === typeName);
  return row ? row.options.filter((option) => !OWN_FIELDS.has(option.name)) : [];
}

function inputId(name) { return "po-" + name.replace(/[^A-Za-z0-9_-]/g, "_"); }

function label(name) { return name.replace(/_/g, " "); }

function defaultText(option) {
  if (option.kind === "boolean") return option.default === null ? "default (unset)" : "default (" + (option.default ? "on" : "off") + ")";
  if (option.default === null || option.default === undefined) return "default: unset";
  if (Array.isArray(option.default)) return option.default.length ? "default: " + option.default.join(", ") : "default: none";
  return "default: " + option.default;
}

function shown(value) {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.join(", ");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function field(option, current) {
  const id = inputId(option.name);
  const described = [id + "-hint", id + "-error"].join(" ");
  let input;
  if (option.kind === "boolean") {
    input = el("select", { id, name: "option-" + option.name, "aria-describedby": described, "data-option": option.name },
      el("option", { value: "" }, defaultText(option)), el("option", { value: "true" }, "on"),
      el("option", { value: "false" }, "off"));
    input.value = current === true ? "true" : current === false ? "false" : "";
  } else if (option.kind === "secret") {
    // Like the API key: a password input that is never filled from the file.
    input = el("input", { id, name: "option-secret-" + option.name, type: "password", autocomplete: "new-password",
      "data-1p-ignore": true, "data-lpignore": "true", "data-bwignore": true, spellcheck: "false",
      placeholder: current ? "set (hidden): leave empty to keep" : "not set", "aria-describedby": described,
      "data-option": option.name });
  } else {
    const numeric = option.kind === "number" || option.kind === "integer";
    input = el("input", { id, name: "option-" + option.name, autocomplete: "off", spellcheck: "false",
      inputmode: option.kind === "integer" ? "numeric" : option.kind === "number" ? "decimal" : null,
      placeholder: numeric || option.kind === "string" ? defaultText(option) : option.kind === "list"
        ? "comma-separated; " + defaultText(option) : "JSON; " + defaultText(option),
      "aria-describedby": described, "data-option": option.name });
    input.value = shown(current);
  }
  input.dataset.kind = option.kind;
  return el("div", { className: "field" },
    el("label", { for: id }, label(option.name)), input,
    el("p", { className: "hint", id: id + "-hint" }, option.help || option.kind),
    el("p", { className: "field-error", id: id + "-error", hidden: true }));
}

// Draws the options of `typeName`, filled from `current` (the provider's options as the config
// view shows them, or {} for a new provider).
export function drawOptions(typeName, current) {
  const options = optionsOf(typeName);
  const common = options.filter((option) => !option.type_specific);
  const own = options.filter((option) => option.type_specific);
  const box = $("p-options");
  const group = (title, list) => list.length ? el("fieldset", { className: "options" }, el("legend", {}, title),
    el("div", { className: "grid" }, ...list.map((option) => field(option, current[option.name])))) : null;
  box.replaceChildren(...[group("Timeouts and limits", common), group("Options of type " + (typeName || "?"), own)]
    .filter(Boolean));
  drawHeaders(current.headers || {});
}

// -- headers ---------------------------------------------------------------------------------

function secretHint(state) {
  if (!state) return "value";
  if (state.env) return "${" + state.env + "} " + (state.set ? "(set)" : "(not set)") + ": leave empty to keep";
  return "hidden: leave empty to keep";
}

function headerRow(name, state) {
  headerCount += 1;
  const n = headerCount;
  const nameId = "ph-name-" + n;
  const valueId = "ph-value-" + n;
  const remove = el("button", { type: "button", className: "remove", "aria-label": "Remove header " + (name || n),
    "data-focus": "remove-header-" + n });
  remove.textContent = "Remove";
  const row = el("div", { className: "header-row", "data-header": String(n) },
    el("div", { className: "field" }, el("label", { for: nameId }, "Header name"),
      el("input", { id: nameId, name: "header-name-" + n, autocomplete: "off", spellcheck: "false", value: name || "",
        "aria-describedby": nameId + "-error", "data-original": name || "" }),
      el("p", { className: "field-error", id: nameId + "-error", hidden: true })),
    el("div", { className: "field" }, el("label", { for: valueId }, "Header value"),
      // A password input: a header may carry a key, and a stored one is never shown back.
      el("input", { id: valueId, name: "header-value-" + n, type: "password", autocomplete: "new-password",
        "data-1p-ignore": true, "data-lpignore": "true", "data-bwignore": true, spellcheck: "false",
        placeholder: state ? secretHint(state) : "value, or ${VARIABLE}", "aria-describedby": valueId + "-error" }),
      el("p", { className: "field-error", id: valueId + "-error", hidden: true })),
    remove);
  remove.addEventListener("click", () => {
    const next = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    // Focus stays in the list: the next row's Remove, else "Add header".
    (next && next.querySelector("button.remove") || $("p-add-header")).focus();
  });
  return row;
}

function drawHeaders(states) {
  originalHeaders = { ...states };
  $("p-headers").replaceChildren(...Object.entries(states).map(([name, state]) => headerRow(name, state)));
}

export function addHeader() {
  const row = headerRow("", null);
  $("p-headers").append(row);
  row.querySelector("input").focus();
}

// -- reading the form --------------------------------------------------------------------------

function parseValue(input) {
  const text = input.value.trim();
  const kind = input.dataset.kind;
  if (!text) return { empty: true };
  if (kind === "boolean") return { value: text === "true" };
  if (kind === "number" || kind === "integer") {
    const value = Number(text);
    if (!Number.isFinite(value) || (kind === "integer" && !Number.isInteger(value))) {
      return { error: kind === "integer" ? "Enter a whole number, or leave it empty for the default." : "Enter a number, or leave it empty for the default." };
    }
    return { value };
  }
  if (kind === "list") return { value: text.split(",").map((s) => s.trim()).filter(Boolean) };
  if (kind === "json") {
    try { return { value: JSON.parse(text) }; } catch (err) { return { error: "Enter valid JSON, or leave it empty for the default." }; }
  }
  return { value: kind === "secret" ? input.value : text };
}

// The options part of the body; `editing`: a PATCH, where an emptied input removes the option.
// Returns null (with the errors shown under their inputs) when an input cannot be read.
export function readOptions(editing, current) {
  const values = {};
  let ok = true;
  for (const input of $("p-options").querySelectorAll("[data-option]")) {
    const name = input.dataset.option;
    const parsed = parseValue(input);
    if (parsed.error) {
      showFieldError(input.id, parsed.error);
      ok = false;
    } else if (!parsed.empty) {
      values[name] = parsed.value;
    } else if (editing && input.dataset.kind !== "secret" && Object.hasOwn(current, name)) {
      values[name] = null; // emptied: back to the default
    }
  }
  const headers = readHeaders();
  if (headers === undefined) ok = false;
  else if (headers !== null) values.headers = headers;
  else if (editing && Object.keys(originalHeaders).length) values.headers = null;
  return ok ? values : null;
}

// {name: value | {keep: true}}, null for no headers at all, undefined when a row is wrong.
function readHeaders() {
  const headers = {};
  let ok = true;
  for (const row of $("p-headers").querySelectorAll(".header-row")) {
    const [nameInput, valueInput] = row.querySelectorAll("input");
    const name = nameInput.value.trim();
    const value = valueInput.value;
    if (!name && !value) continue; // an empty row is no header
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      showFieldError(nameInput.id, "Enter a header name: letters, digits and - (no spaces).");
      ok = false;
    } else if (Object.hasOwn(headers, name)) {
      showFieldError(nameInput.id, "This header is listed twice.");
      ok = false;
    } else if (value) {
      headers[name] = value;
    } else if (Object.hasOwn(originalHeaders, name)) {
      headers[name] = { keep: true }; // the file's value, which this page never had
    } else {
      showFieldError(valueInput.id, "Enter a value for this new header.");
      ok = false;
    }
  }
  if (!ok) return undefined;
  return Object.keys(headers).length ? headers : null;
}

// The input a refused field (error.param, or a config problem's path) is about, if one is shown.
export function inputFor(param) {
  if (!param) return null;
  const name = param.replace(/^providers\.[^.]+\./, "");
  if (name.startsWith("headers")) {
    const header = name.slice("headers.".length).split(".")[0];
    for (const input of $("p-headers").querySelectorAll("input[id^='ph-name-']")) {
      if (input.value.trim() === header) return input;
    }
    return $("p-add-header");
  }
  const option = name.split(/[.[]/)[0];
  return $("p-options").querySelector(`[data-option="${CSS.escape(option)}"]`);
}

export function clearOptionErrors() {
  for (const box of [$("p-options"), $("p-headers")]) {
    for (const message of box.querySelectorAll(".field-error")) {
      message.hidden = true;
      message.textContent = "";
    }
    for (const input of box.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  }
}
