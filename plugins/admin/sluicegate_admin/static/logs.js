// The Logs page (the governance plugin's GET /admin/api/logs): the request log, newest first,
// with filters, "Load more" (cursor pages) and a detail drawer. The log holds no prompt text.

import { api, errorOf, missingRoute } from "./api.js";
import { $, badge, cell, el, emptyRow } from "./dom.js";
import { clearError, showError } from "./feedback.js";
import { clearFieldErrors, showFieldError } from "./field_errors.js";
import { Modal } from "./modal.js";

const PAGE = 50;
let rows = [];
let cursor = null;
let drawer = null;

function filters() {
  const query = new URLSearchParams({ limit: String(PAGE) });
  const pairs = [["model", "l-model"], ["provider", "l-provider"], ["status", "l-status"], ["key", "l-key"]];
  for (const [name, id] of pairs) {
    const value = $(id).value.trim();
    if (value) query.set(name, value);
  }
  return query;
}

function statusBadge(status) {
  if (status === null || status === undefined) return badge("warn", "—");
  return badge(status < 400 ? "ok" : status < 500 ? "warn" : "bad", String(status));
}

function number(value, unit) {
  return value === null || value === undefined ? "—" : Math.round(value * 100) / 100 + (unit || "");
}

function row(entry) {
  const when = entry.at ? new Date(entry.at).toLocaleString() : "—";
  const details = el("button", { type: "button", "aria-label": "Details of request " + entry.request_id,
    "data-focus": "log-" + entry.request_id, onclick: (event) => openDetail(entry, event.currentTarget) }, "Details");
  return el("tr", { "data-request": entry.request_id },
    cell("Time", when), cell("Model", entry.model || "—"), cell("Provider", entry.provider || "—"),
    cell("Status", statusBadge(entry.status)),
    cell("Tokens in / out", number(entry.tokens_in) + " / " + number(entry.tokens_out)),
    cell("Cost", number(entry.cost)), cell("Latency", number(entry.latency_ms, " ms")),
    cell("Details", el("div", { className: "buttons" }, details), "actions"));
}

function unavailable(text) {
  $("logs-unavailable").replaceChildren(el("p", { className: "panel-title" }, "Not available here"), el("p", {}, text));
  $("logs-unavailable").hidden = false;
  $("logs-body").hidden = true;
}

async function fetchPage(after) {
  const query = filters();
  if (after) query.set("cursor", after);
  const answer = await api("GET", "/admin/api/logs?" + query);
  if (!answer.ok) {
    if (answer.status === 404) {
      unavailable(missingRoute(answer)
        ? "The request log needs the governance plugin (sluicegate-governance), which this gateway does not have."
        : errorOf(answer).message);
    } else if (errorOf(answer).param === "status") {
      showFieldError("l-status", errorOf(answer).message);
      $("l-status").focus();
    } else {
      showError("logs-errors", errorOf(answer), "Reading the log", "logs-apply");
    }
    return null;
  }
  $("logs-unavailable").hidden = true;
  $("logs-body").hidden = false;
  return answer.data;
}

export async function load() {
  clearFieldErrors(["l-status"]);
  clearError("logs-errors");
  const page = await fetchPage(null);
  if (!page) return;
  rows = page.data || [];
  cursor = page.next_cursor || null;
}

export function render() {
  if ($("logs-body").hidden) return;
  $("logs").tBodies[0].replaceChildren(...(rows.length ? rows.map(row) : [emptyRow(8, "No requests match.")]));
  $("logs-more").hidden = !cursor;
}

async function more() {
  const page = await fetchPage(cursor);
  if (!page) return;
  const first = (page.data || [])[0];
  rows = rows.concat(page.data || []);
  cursor = page.next_cursor || null;
  render();
  // Focus goes to the first new row, where reading continues.
  const target = first && document.querySelector(`[data-focus="log-${CSS.escape(first.request_id)}"]`);
  (target || $("logs-title")).focus();
}

// -- the drawer ------------------------------------------------------------------------------

const FACTS = [
  ["request_id", "Request id"], ["at", "Time"], ["model", "Model asked for"], ["provider", "Provider"],
  ["upstream_model", "Upstream model"], ["endpoint", "Endpoint"], ["stream", "Streamed"], ["status", "Status"],
  ["error_class", "Error class"], ["key_id", "Key id"], ["team_id", "Team id"], ["client", "Client"],
  ["tokens_in", "Tokens in"], ["tokens_out", "Tokens out"], ["tokens_cached", "Cached tokens read"],
  ["tokens_cache_written", "Cache tokens written"], ["cost", "Cost"], ["latency_ms", "Latency (ms)"],
  ["ttft_ms", "Time to first token (ms)"],
];

function openDetail(entry, opener) {
  $("log-detail-title").textContent = "Request " + entry.request_id;
  const facts = [];
  for (const [name, label] of FACTS) {
    const value = entry[name];
    facts.push(el("dt", {}, label), el("dd", {}, value === null || value === undefined ? "—" : String(value)));
  }
  $("log-detail-facts").replaceChildren(...facts);
  drawer.open(opener, $("log-detail-close"));
}

export function init() {
  $("l-submit").dataset.focus = "logs-apply";
  drawer = new Modal($("log-detail"));
  $("log-detail-close").addEventListener("click", () => drawer.close());
  $("logs-more").addEventListener("click", more);
  $("logs-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    await load();
    render();
    $("l-submit").focus();
  });
}
