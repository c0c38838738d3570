// The Health page: per provider its verdict (GET /admin/api/status and /admin/api/config's live
// facts, with the overview's), and per target its breaker (open is red), the last minute's calls
// and errors, the time to first token and the last error (GET /health, the gateway's own probe
// route, which reads memory only). It refreshes itself while "Refresh automatically" is on;
// "as of" says when the numbers were read.

import { api } from "./api.js";
import { $, badge, cell, el, emptyRow, timeText } from "./dom.js";
import { breakersText, providerHealth } from "./health_state.js";
import { overviewProvider, state } from "./state.js";

const BREAKER = { closed: ["ok", "closed"], half_open: ["warn", "half-open (probing)"], open: ["bad", "open"] };
let status = null;
let targets = null; // GET /health's "targets", or null when it could not be read
let readAt = null;

export async function load() {
  const [answer, probe] = await Promise.all([api("GET", "/admin/api/status"), readHealth()]);
  if (answer.ok) status = answer.data;
  targets = probe;
  if (answer.ok) readAt = new Date();
  return answer;
}

async function readHealth() {
  try {
    const response = await fetch("/health", { cache: "no-store" });
    if (!response.ok) return null;
    const data = await response.json();
    return data && typeof data.targets === "object" ? data.targets : null;
  } catch (err) {
    return null;
  }
}

export function autoRefresh() { return $("health-auto").checked; }

function lastError(facts) {
  if (!facts || !facts.last_error) return "—";
  const when = facts.last_error_at ? " (" + timeText(facts.last_error_at) + ")" : "";
  return facts.last_error + when;
}

function ms(value) {
  return value === null || value === undefined ? "—" : Math.round(value) + " ms";
}

function providerRows() {
  const facts = (status && status.providers) || {};
  const providers = (state.config && state.config.providers) || [];
  return providers.map((p) => {
    const fact = facts[p.id];
    // The status endpoint is the authority on whether the serving provider is configured.
    const live = fact ? { ...p, configured: fact.configured, reason: fact.reason || p.reason } : p;
    const health = providerHealth(live, overviewProvider(p.id));
    const traffic = p.traffic || {};
    return el("tr", { "data-provider": p.id },
      cell("Provider", p.id), cell("Health", badge(health.level, health.text)),
      cell("Breakers", breakersText(p.targets)), cell("Calls (1 min)", traffic.calls_1m || 0),
      cell("Errors (1 min)", traffic.errors_1m || 0), cell("TTFT", ms(traffic.ewma_ttfb_ms)),
      cell("Last error", lastError(traffic)));
  });
}

function targetRows() {
  return Object.entries(targets || {}).sort(([a], [b]) => a.localeCompare(b)).map(([label, facts]) => {
    const [level, text] = BREAKER[facts.breaker] || ["warn", String(facts.breaker)];
    const open = facts.open_targets ? " (" + facts.open_targets + " open)" : "";
    return el("tr", { "data-target": label, "data-breaker": facts.breaker },
      cell("Target", label), cell("Breaker", badge(level, text + open)),
      cell("Calls (1 min)", facts.calls_1m || 0), cell("Errors (1 min)", facts.errors_1m || 0),
      cell("TTFT", ms(facts.ewma_ttfb_ms)), cell("Last error", lastError(facts)));
  });
}

export function render() {
  const rows = providerRows();
  $("health").tBodies[0].replaceChildren(...(rows.length ? rows : [emptyRow(7, "No providers.")]));
  const breakers = targetRows();
  $("health-targets").tBodies[0].replaceChildren(...(breakers.length ? breakers
    : [emptyRow(6, targets === null ? "The breakers could not be read (GET /health)." : "No target has been called yet.")]));
  $("health-asof").textContent = readAt ? "As of " + readAt.toLocaleTimeString() : "";
}

export function init(redraw) {
  $("health-refresh").addEventListener("click", redraw);
}
