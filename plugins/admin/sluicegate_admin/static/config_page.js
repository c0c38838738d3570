// The Config page: where the config comes from, the last reload and its problems, the providers
// and aliases as loaded (keys as the variables they name, never values), and Reload.

import { api, errorOf } from "./api.js";
import { $, problemItem, timeText } from "./dom.js";
import { clearError, notify, showError } from "./feedback.js";
import { keyText } from "./providers.js";
import { state } from "./state.js";

let rerender = async () => {};

function tomlValue(value) {
  if (Array.isArray(value)) return "[" + value.map(tomlValue).join(", ") + "]";
  if (typeof value === "string") return JSON.stringify(value);
  if (value && typeof value === "object") {
    if (value.literal) return '"(literal, hidden)"';
    if (value.env) return JSON.stringify("${" + value.env + "}");
    return "{ " + Object.entries(value).map(([k, v]) => k + " = " + tomlValue(v)).join(", ") + " }";
  }
  return String(value);
}

// A TOML-shaped listing of what the view holds; masked values stay masked.
function asToml(config) {
  const lines = [];
  for (const p of config.providers || []) {
    lines.push("[providers." + p.id + "]");
    if (p.type) lines.push("type = " + tomlValue(p.type));
    if (p.base_url) lines.push("base_url = " + tomlValue(p.base_url));
    if ((p.models || []).length) lines.push("models = " + tomlValue(p.models));
    if (p.key) lines.push("api_key = " + (p.key.env ? tomlValue(p.key) : JSON.stringify("(" + keyText(p.key) + ")")));
    for (const [name, value] of Object.entries(p.options || {})) lines.push(name + " = " + tomlValue(value));
    lines.push("");
  }
  for (const m of config.models || []) {
    lines.push("[models." + m.alias + "]");
    for (const [name, value] of Object.entries(m)) {
      if (name !== "alias" && name !== "serving") lines.push(name + " = " + tomlValue(value));
    }
    lines.push("");
  }
  return lines.join("\n").trim();
}

export function render() {
  const config = state.config;
  if (!config) return;
  $("config-source").textContent = config.editable ? "File " + config.path : "In-memory config (read only)";
  const reload = config.last_reload;
  const when = reload.at ? timeText(reload.at) : "at start";
  $("reload-state").textContent = (reload.ok ? "Loaded " : "Refused ") + when + " from " + reload.source;
  $("reload-state").className = reload.ok ? "ok-text" : "bad-text";
  const problems = reload.problems || [];
  $("reload-problems").replaceChildren(...problems.map(problemItem));
  if (!problems.length) $("reload-problems").replaceChildren(Object.assign(document.createElement("li"), { textContent: "None." }));
  $("config-text").textContent = asToml(config);
}

async function reloadNow() {
  clearError("config-errors");
  const answer = await api("POST", "/admin/reload");
  notify("config-notice", answer.ok ? "Config reloaded." : "");
  await rerender();
  if (!answer.ok) showError("config-errors", errorOf(answer), "Reloading", "reload");
  else $("reload").focus();
}

export function init(onChanged) {
  rerender = onChanged;
  $("reload").dataset.focus = "reload";
  $("reload").addEventListener("click", reloadNow);
}
