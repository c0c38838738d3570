// The Keys and teams page (the governance plugin's /admin/api/keys and /admin/api/teams): keys with
// their status, budget as a bar (spent + reserved against the limit), limits and expiry; create
// and rotate (the secret is shown once, with a copy button), edit, revoke; teams with their
// budgets and limits, created and edited the same way.

import { api, errorOf, missingRoute } from "./api.js";
import { budgetBar } from "./budget_bar.js";
import { $, badge, cell, el, emptyRow, list } from "./dom.js";
import { clearError, notify, showError } from "./feedback.js";
import { clearFieldErrors, showFieldError } from "./field_errors.js";
import { canWrite } from "./state.js";

const STATUS = { active: "ok", disabled: "warn", revoked: "bad", expired: "bad" };
const KEY_FIELDS = { name: "k-name", models: "k-models", budget: "k-budget", "budget.amount": "k-budget",
  "limits.rpm": "k-rpm", "limits.tpm": "k-tpm", "limits.concurrency": "k-concurrency", expires_at: "k-expires" };
const TEAM_FIELDS = { name: "t-name", budget: "t-budget", "budget.amount": "t-budget",
  "limits.rpm": "t-rpm", "limits.tpm": "t-tpm", "limits.concurrency": "t-concurrency" };
const WHERE = { notice: "keys-notice", errors: "keys-errors" };

let keys = [];
let teams = [];
let editingKey = null; // the key view being edited, or null when creating
let editingTeam = null;

function limitsText(limits) {
  const names = { rpm: "requests/min", tpm: "tokens/min", concurrency: "at once" };
  const parts = Object.entries(limits || {}).filter(([, value]) => value !== null)
    .map(([name, value]) => value.toLocaleString() + " " + (names[name] || name));
  return parts.length ? parts.join(", ") : "none";
}

function teamName(id) {
  if (!id) return "—";
  const team = teams.find((t) => t.id === id);
  return team ? team.name : id;
}

function expiresText(key) {
  if (!key.expires_at) return "never";
  return key.expires_at.slice(0, 10) + (key.status === "expired" ? " (expired)" : "");
}

function button(text, label, focus, onClick) {
  return el("button", { type: "button", "aria-label": label, "data-focus": focus, onclick: onClick }, text);
}

function keyActions(key) {
  const box = el("div", { className: "buttons" });
  if (canWrite() && key.status !== "revoked") {
    box.append(
      button("Edit", "Edit key " + key.name, "edit-key-" + key.id, () => editKey(key)),
      button("Rotate", "Rotate key " + key.name, "rotate-key-" + key.id, () => rotate(key)),
      button("Revoke", "Revoke key " + key.name, "revoke-key-" + key.id, () => revoke(key)));
  }
  return cell("Actions", box, "actions");
}

function teamActions(team) {
  const box = el("div", { className: "buttons" });
  if (canWrite()) box.append(button("Edit", "Edit team " + team.name, "edit-team-" + team.id, () => editTeam(team)));
  return cell("Actions", box, "actions");
}

function render() {
  const keyRows = keys.map((key) => el("tr", { "data-key": key.id },
    cell("Name", key.name), cell("Key", key.prefix), cell("Team", teamName(key.team_id)),
    cell("Status", badge(STATUS[key.status] || "warn", key.status)),
    cell("Budget", budgetBar(key, "Budget of key " + key.name)),
    cell("Limits", limitsText(key.limits)), cell("Models", key.models.length ? key.models.join(", ") : "all"),
    cell("Expires", expiresText(key)), keyActions(key)));
  $("keys").tBodies[0].replaceChildren(...(keyRows.length ? keyRows : [emptyRow(9, "No keys yet.")]));
  const teamRows = teams.map((team) => el("tr", { "data-team": team.id },
    cell("Name", team.name), cell("Id", team.id), cell("Keys", team.keys),
    cell("Budget", budgetBar(team, "Budget of team " + team.name)), cell("Limits", limitsText(team.limits)),
    teamActions(team)));
  $("teams").tBodies[0].replaceChildren(...(teamRows.length ? teamRows : [emptyRow(6, "No teams yet.")]));
  const chosen = $("k-team").value;
  $("k-team").replaceChildren(new Option("(no team)", ""), ...teams.map((team) => new Option(team.name, team.id)));
  $("k-team").value = teams.some((team) => team.id === chosen) ? chosen : "";
}

function unavailable(text) {
  $("keys-unavailable").replaceChildren(el("p", { className: "panel-title" }, "Not available here"), el("p", {}, text));
  $("keys-unavailable").hidden = false;
  $("keys-body").hidden = true;
}

// A secret shown once stays on screen until Done, or until the page is left.
function dropSecret() {
  $("key-secret-value").textContent = "";
  $("key-secret").hidden = true;
}

export async function load() {
  const [keyAnswer, teamAnswer] = await Promise.all([api("GET", "/admin/api/keys"), api("GET", "/admin/api/teams")]);
  if (!keyAnswer.ok || !teamAnswer.ok) {
    const failed = keyAnswer.ok ? teamAnswer : keyAnswer;
    unavailable(missingRoute(failed)
      ? "Keys and teams need the governance plugin (sluicegate-governance), which this gateway does not have."
      : errorOf(failed).message);
    return;
  }
  keys = keyAnswer.data.data || [];
  teams = teamAnswer.data.data || [];
  $("keys-unavailable").hidden = true;
  $("keys-body").hidden = false;
}

export function renderPage() {
  if (!$("keys-body").hidden) render();
}

// -- the secret, shown once ------------------------------------------------------------------

function showSecret(name, secret, origin) {
  $("key-secret-title").textContent = "Copy the new key of " + name + " now";
  $("key-secret-value").textContent = secret;
  $("key-secret-copied").textContent = "";
  $("key-secret").dataset.origin = origin;
  $("key-secret").hidden = false;
  $("key-secret").scrollIntoView({ block: "nearest" });
  $("key-secret-copy").focus();
}

function hideSecret() {
  $("key-secret-value").textContent = ""; // gone from the page, not just hidden
  $("key-secret").hidden = true;
  const origin = document.querySelector(`[data-focus="${CSS.escape($("key-secret").dataset.origin || "")}"]`);
  (origin || $("k-submit")).focus();
}

async function copySecret() {
  const secret = $("key-secret-value").textContent;
  try {
    await navigator.clipboard.writeText(secret);
    $("key-secret-copied").textContent = "Copied.";
  } catch (err) {
    const range = document.createRange();
    range.selectNodeContents($("key-secret-value"));
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
    $("key-secret-copied").textContent = "Selected: copy it with Ctrl+C (the browser refused the clipboard).";
  }
}

// -- reading the forms -----------------------------------------------------------------------

async function refresh() {
  await load();
  renderPage();
}

function fieldOrPanel(answer, fields, what, origin) {
  const error = errorOf(answer);
  const inputId = fields[error.param];
  if (inputId) {
    showFieldError(inputId, error.message);
    $(inputId).focus();
  } else {
    showError(WHERE.errors, error, what, origin);
  }
}

function number(inputId, { whole }) {
  const text = $(inputId).value.trim();
  if (!text) return null;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || (whole && (!Number.isInteger(value) || value < 1))) {
    showFieldError(inputId, whole ? "Enter a whole number, 1 or more, or leave it empty." : "Enter a number, 0 or more, or leave it empty.");
    return undefined;
  }
  return value;
}

// {rpm, tpm, concurrency} from three inputs; undefined when one is wrong.
function limits(prefix) {
  const rpm = number(prefix + "-rpm", { whole: true });
  const tpm = number(prefix + "-tpm", { whole: true });
  const concurrency = number(prefix + "-concurrency", { whole: true });
  if (rpm === undefined || tpm === undefined || concurrency === undefined) return undefined;
  return { rpm, tpm, concurrency };
}

function keyBody() {
  const body = { name: $("k-name").value.trim() };
  if (!body.name) {
    showFieldError("k-name", "Enter a name for the key, such as the app that will use it.");
    return null;
  }
  const editing = Boolean(editingKey);
  const team = $("k-team").value;
  if (team) body.team_id = team;
  else if (editing) body.team_id = null;
  const models = list($("k-models").value);
  if (models.length || editing) body.models = models; // an empty list: every model
  const budget = number("k-budget", { whole: false });
  const limited = limits("k");
  if (budget === undefined || limited === undefined) return null;
  if (budget !== null) body.budget = { amount: budget, period: $("k-period").value };
  else if (editing) body.budget = null;
  if (editing || Object.values(limited).some((value) => value !== null)) body.limits = limited;
  if ($("k-expires").value) body.expires_at = $("k-expires").value + "T23:59:59Z";
  else if (editing) body.expires_at = null;
  return body;
}

function teamBody() {
  const body = { name: $("t-name").value.trim() };
  if (!body.name) {
    showFieldError("t-name", "Enter a name for the team.");
    return null;
  }
  const budget = number("t-budget", { whole: false });
  const limited = limits("t");
  if (budget === undefined || limited === undefined) return null;
  if (budget !== null) body.budget = { amount: budget, period: $("t-period").value };
  else if (editingTeam) body.budget = null;
  if (editingTeam || Object.values(limited).some((value) => value !== null)) body.limits = limited;
  return body;
}

function fill(id, value) { $(id).value = value === null || value === undefined ? "" : String(value); }

// -- keys ------------------------------------------------------------------------------------

function resetKeyForm() {
  editingKey = null;
  $("key-form").reset();
  clearFieldErrors(Object.values(KEY_FIELDS));
  $("key-legend").textContent = "Create a key";
  $("k-submit").textContent = "Create key";
  $("k-cancel").hidden = true;
}

function editKey(key) {
  resetKeyForm();
  editingKey = key;
  fill("k-name", key.name);
  $("k-team").value = key.team_id || "";
  fill("k-models", key.models.join(", "));
  fill("k-budget", key.budget ? key.budget.amount : null);
  $("k-period").value = key.budget ? key.budget.period : "month";
  fill("k-rpm", key.limits.rpm);
  fill("k-tpm", key.limits.tpm);
  fill("k-concurrency", key.limits.concurrency);
  fill("k-expires", key.expires_at ? key.expires_at.slice(0, 10) : "");
  $("key-legend").textContent = "Edit key " + key.name;
  $("k-submit").textContent = "Save key";
  $("k-cancel").hidden = false;
  $("key-form").scrollIntoView({ block: "start" });
  $("k-name").focus();
}

async function submitKey(event) {
  event.preventDefault();
  clearFieldErrors(Object.values(KEY_FIELDS));
  clearError(WHERE.errors);
  const body = keyBody();
  if (!body) {
    document.querySelector("#key-form [aria-invalid='true']").focus();
    return;
  }
  const key = editingKey;
  const answer = key
    ? await api("PATCH", "/admin/api/keys/" + encodeURIComponent(key.id), body)
    : await api("POST", "/admin/api/keys", body);
  if (!answer.ok) {
    fieldOrPanel(answer, KEY_FIELDS, "Key " + body.name, "create-key");
    return;
  }
  resetKeyForm();
  await refresh();
  if (key) {
    notify(WHERE.notice, "Key " + answer.data.name + " saved.");
    const back = document.querySelector(`[data-focus="edit-key-${CSS.escape(key.id)}"]`);
    (back || $("keys-list-title")).focus();
    return;
  }
  notify(WHERE.notice, "Key " + answer.data.name + " created.");
  showSecret(answer.data.name, answer.data.key, "rotate-key-" + answer.data.id);
}

async function rotate(key) {
  if (!window.confirm("Rotate key " + key.name + "? Its current secret stops working at once.")) return;
  clearError(WHERE.errors);
  const answer = await api("POST", "/admin/api/keys/" + encodeURIComponent(key.id) + "/rotate");
  await refresh();
  if (!answer.ok) {
    showError(WHERE.errors, errorOf(answer), "Rotating key " + key.name, "rotate-key-" + key.id);
    return;
  }
  notify(WHERE.notice, "Key " + key.name + " rotated: the old secret is refused from now on.");
  showSecret(key.name, answer.data.key, "rotate-key-" + key.id);
}

async function revoke(key) {
  if (!window.confirm("Revoke key " + key.name + "? It is refused from now on, for good.")) return;
  clearError(WHERE.errors);
  const answer = await api("POST", "/admin/api/keys/" + encodeURIComponent(key.id) + "/revoke");
  await refresh();
  if (!answer.ok) {
    showError(WHERE.errors, errorOf(answer), "Revoking key " + key.name, "revoke-key-" + key.id);
    return;
  }
  notify(WHERE.notice, "Key " + key.name + " revoked.");
  $("keys-list-title").focus();
}

// -- teams -----------------------------------------------------------------------------------

function resetTeamForm() {
  editingTeam = null;
  $("team-form").reset();
  clearFieldErrors(Object.values(TEAM_FIELDS));
  $("team-legend").textContent = "Create a team";
  $("t-submit").textContent = "Create team";
  $("t-cancel").hidden = true;
}

function editTeam(team) {
  resetTeamForm();
  editingTeam = team;
  fill("t-name", team.name);
  fill("t-budget", team.budget ? team.budget.amount : null);
  $("t-period").value = team.budget ? team.budget.period : "month";
  fill("t-rpm", team.limits.rpm);
  fill("t-tpm", team.limits.tpm);
  fill("t-concurrency", team.limits.concurrency);
  $("team-legend").textContent = "Edit team " + team.name;
  $("t-submit").textContent = "Save team";
  $("t-cancel").hidden = false;
  $("team-form").scrollIntoView({ block: "start" });
  $("t-name").focus();
}

async function submitTeam(event) {
  event.preventDefault();
  clearFieldErrors(Object.values(TEAM_FIELDS));
  clearError(WHERE.errors);
  const body = teamBody();
  if (!body) {
    document.querySelector("#team-form [aria-invalid='true']").focus();
    return;
  }
  const team = editingTeam;
  const answer = team
    ? await api("PATCH", "/admin/api/teams/" + encodeURIComponent(team.id), body)
    : await api("POST", "/admin/api/teams", body);
  if (!answer.ok) {
    fieldOrPanel(answer, TEAM_FIELDS, "Team " + body.name, "create-team");
    return;
  }
  resetTeamForm();
  await refresh();
  notify(WHERE.notice, "Team " + body.name + (team ? " saved." : " created."));
  const back = team && document.querySelector(`[data-focus="edit-team-${CSS.escape(team.id)}"]`);
  (back || $("t-submit")).focus();
}

export function init() {
  $("k-submit").dataset.focus = "create-key";
  $("t-submit").dataset.focus = "create-team";
  $("keys-list-title").tabIndex = -1;
  $("key-form").addEventListener("submit", submitKey);
  $("team-form").addEventListener("submit", submitTeam);
  $("key-secret-copy").addEventListener("click", copySecret);
  $("key-secret-done").addEventListener("click", hideSecret);
  window.addEventListener("hashchange", () => { if (location.hash !== "#/keys") dropSecret(); });
  $("k-cancel").addEventListener("click", () => {
    const id = editingKey ? editingKey.id : "";
    resetKeyForm();
    const back = document.querySelector(`[data-focus="edit-key-${CSS.escape(id)}"]`);
    (back || $("k-name")).focus();
  });
  $("t-cancel").addEventListener("click", () => {
    const id = editingTeam ? editingTeam.id : "";
    resetTeamForm();
    const back = document.querySelector(`[data-focus="edit-team-${CSS.escape(id)}"]`);
    (back || $("t-name")).focus();
  });
}
