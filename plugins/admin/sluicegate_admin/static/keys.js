// The Keys and teams page (the governance plugin's /admin/api/keys and /admin/api/teams): keys with
// their status, budget used and limits; create (the secret is shown once, with a copy button),
// rotate and revoke; teams with their budgets.

import { api, errorOf, missingRoute } from "./api.js";
import { $, badge, cell, el, emptyRow, list } from "./dom.js";
import { clearError, notify, showError } from "./feedback.js";
import { clearFieldErrors, showFieldError } from "./field_errors.js";
import { canWrite } from "./state.js";

const STATUS = { active: "ok", disabled: "warn", revoked: "bad", expired: "bad" };
const KEY_FIELDS = { name: "k-name", models: "k-models", budget: "k-budget", "budget.amount": "k-budget",
  "limits.rpm": "k-rpm", "limits.tpm": "k-tpm", expires_at: "k-expires" };
const TEAM_FIELDS = { name: "t-name", budget: "t-budget", "budget.amount": "t-budget" };
const WHERE = { notice: "keys-notice", errors: "keys-errors" };

let keys = [];
let teams = [];

function money(value) { return (Math.round(value * 100) / 100).toLocaleString(); }

function budgetCell(owner, what) {
  if (!owner.budget) return cell("Budget", "none");
  const spend = owner.spend;
  const limit = owner.budget.amount;
  const spent = spend ? spend.spent + spend.reserved : 0;
  const box = el("div", { className: "budget" },
    el("progress", { max: String(limit || 1), value: String(Math.min(spent, limit)),
      "aria-label": "Budget of " + what + " used" }),
    el("span", {}, money(spent) + " of " + money(limit) + " (" + owner.budget.period + ")"));
  return cell("Budget", box);
}

function limitsText(limits) {
  const parts = Object.entries(limits || {}).filter(([, value]) => value !== null).map(([name, value]) => name + " " + value);
  return parts.length ? parts.join(", ") : "none";
}

function teamName(id) {
  if (!id) return "—";
  const team = teams.find((t) => t.id === id);
  return team ? team.name : id;
}

function keyActions(key) {
  const box = el("div", { className: "buttons" });
  if (canWrite() && key.status !== "revoked") {
    box.append(
      el("button", { type: "button", "aria-label": "Rotate key " + key.name, "data-focus": "rotate-key-" + key.id,
        onclick: () => rotate(key) }, "Rotate"),
      el("button", { type: "button", "aria-label": "Revoke key " + key.name, "data-focus": "revoke-key-" + key.id,
        onclick: () => revoke(key) }, "Revoke"));
  }
  return cell("Actions", box, "actions");
}

function render() {
  const keyRows = keys.map((key) => el("tr", { "data-key": key.id },
    cell("Name", key.name), cell("Key", key.prefix), cell("Team", teamName(key.team_id)),
    cell("Status", badge(STATUS[key.status] || "warn", key.status)), budgetCell(key, key.name),
    cell("Limits", limitsText(key.limits)), cell("Models", key.models.length ? key.models.join(", ") : "all"),
    cell("Expires", key.expires_at ? key.expires_at.slice(0, 10) : "never"), keyActions(key)));
  $("keys").tBodies[0].replaceChildren(...(keyRows.length ? keyRows : [emptyRow(9, "No keys yet.")]));
  const teamRows = teams.map((team) => el("tr", { "data-team": team.id },
    cell("Name", team.name), cell("Id", team.id), cell("Keys", team.keys), budgetCell(team, team.name),
    cell("Limits", limitsText(team.limits))));
  $("teams").tBodies[0].replaceChildren(...(teamRows.length ? teamRows : [emptyRow(5, "No teams yet.")]));
  const chosen = $("k-team").value;
  $("k-team").replaceChildren(new Option("(no team)", ""), ...teams.map((team) => new Option(team.name, team.id)));
  $("k-team").value = teams.some((team) => team.id === chosen) ? chosen : "";
}

function unavailable(text) {
  $("keys-unavailable").replaceChildren(el("p", { className: "panel-title" }, "Not available here"), el("p", {}, text));
  $("keys-unavailable").hidden = false;
  $("keys-body").hidden = true;
}

export async function load() {
  // A secret shown once stays on screen only until the page is left and come back to.
  if (!$("key-secret").hidden && !document.activeElement.closest("#key-secret")) {
    $("key-secret-value").textContent = "";
    $("key-secret").hidden = true;
  }
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

// -- changes ---------------------------------------------------------------------------------

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

function keyBody() {
  const body = { name: $("k-name").value.trim() };
  if (!body.name) {
    showFieldError("k-name", "Enter a name for the key, such as the app that will use it.");
    return null;
  }
  if ($("k-team").value) body.team_id = $("k-team").value;
  const models = list($("k-models").value);
  if (models.length) body.models = models;
  const budget = number("k-budget", { whole: false });
  const rpm = number("k-rpm", { whole: true });
  const tpm = number("k-tpm", { whole: true });
  if (budget === undefined || rpm === undefined || tpm === undefined) return null;
  if (budget !== null) body.budget = { amount: budget, period: $("k-period").value };
  if (rpm !== null || tpm !== null) body.limits = { rpm, tpm };
  if ($("k-expires").value) body.expires_at = $("k-expires").value + "T23:59:59Z";
  return body;
}

async function createKey(event) {
  event.preventDefault();
  clearFieldErrors(Object.values(KEY_FIELDS));
  clearError(WHERE.errors);
  const body = keyBody();
  if (!body) {
    document.querySelector("#key-form [aria-invalid='true']").focus();
    return;
  }
  const answer = await api("POST", "/admin/api/keys", body);
  if (!answer.ok) {
    fieldOrPanel(answer, KEY_FIELDS, "Key " + body.name, "create-key");
    return;
  }
  $("key-form").reset();
  await refresh();
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
  notify(WHERE.notice, "Key " + key.name + " rotated.");
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

async function createTeam(event) {
  event.preventDefault();
  clearFieldErrors(Object.values(TEAM_FIELDS));
  clearError(WHERE.errors);
  const body = { name: $("t-name").value.trim() };
  if (!body.name) {
    showFieldError("t-name", "Enter a name for the team.");
    $("t-name").focus();
    return;
  }
  const budget = number("t-budget", { whole: false });
  if (budget === undefined) return;
  if (budget !== null) body.budget = { amount: budget, period: $("t-period").value };
  const answer = await api("POST", "/admin/api/teams", body);
  if (!answer.ok) {
    fieldOrPanel(answer, TEAM_FIELDS, "Team " + body.name, "create-team");
    return;
  }
  $("team-form").reset();
  await refresh();
  notify(WHERE.notice, "Team " + body.name + " created.");
  $("t-submit").focus();
}

export function init() {
  $("k-submit").dataset.focus = "create-key";
  $("t-submit").dataset.focus = "create-team";
  $("keys-list-title").tabIndex = -1;
  $("key-form").addEventListener("submit", createKey);
  $("team-form").addEventListener("submit", createTeam);
  $("key-secret-copy").addEventListener("click", copySecret);
  $("key-secret-done").addEventListener("click", hideSecret);
}
