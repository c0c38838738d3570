// The Health page: per provider, whether it is configured (GET /admin/api/status), its breakers
// and the last minute's calls, errors, time to first byte and last error (GET /admin/api/config's
// live facts). Refreshed on a timer by the console; "as of" says when the numbers were read.

import { api } from "./api.js";
import { $, badge, cell, el, emptyRow, timeText } from "./dom.js";
import { breakersText, providerHealth } from "./health_state.js";
import { overviewProvider, state } from "./state.js";

let status = null;

export async function load() {
  const answer = await api("GET", "/admin/api/status");
  if (answer.ok) status = answer.data;
  return answer;
}

function lastError(traffic) {
  if (!traffic || !traffic.last_error) return "—";
  const when = traffic.last_error_at ? " (" + timeText(traffic.last_error_at) + ")" : "";
  return traffic.last_error + when;
}

export function render() {
  const facts = (status && status.providers) || {};
  const providers = (state.config && state.config.providers) || [];
  const rows = providers.map((p) => {
    const fact = facts[p.id];
    // The status endpoint is the authority on whether the serving provider is configured.
    const live = fact ? { ...p, configured: fact.configured, reason: fact.reason || p.reason } : p;
    const health = providerHealth(live, overviewProvider(p.id));
    const traffic = p.traffic || {};
    const ttfb = traffic.ewma_ttfb_ms === null || traffic.ewma_ttfb_ms === undefined
      ? "—" : Math.round(traffic.ewma_ttfb_ms) + " ms";
    return el("tr", { "data-provider": p.id },
      cell("Provider", p.id), cell("Health", badge(health.level, health.text)),
      cell("Breakers", breakersText(p.targets)), cell("Calls (1 min)", traffic.calls_1m || 0),
      cell("Errors (1 min)", traffic.errors_1m || 0), cell("TTFB", ttfb), cell("Last error", lastError(traffic)));
  });
  $("health").tBodies[0].replaceChildren(...(rows.length ? rows : [emptyRow(7, "No providers.")]));
  $("health-asof").textContent = state.loadedAt ? "As of " + state.loadedAt.toLocaleTimeString() : "";
}
