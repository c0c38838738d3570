// How healthy a provider is, from the live facts of GET /admin/api/config (breakers, the last
// minute's calls) and, when the gateway has it, GET /admin/api/overview's own verdict. The worse
// of the two wins: an open breaker or failing calls are never shown as healthy.

const RANK = { ok: 0, warn: 1, bad: 2 };
const FROM_OVERVIEW = { ok: "ok", degraded: "warn", down: "bad" };

function percent(rate) { return Math.round(100 * (rate || 0)) + "% errors"; }

function fromLiveFacts(provider) {
  if (!provider.serving) return { level: "bad", text: "not serving" };
  if (provider.configured === false) {
    return { level: "bad", text: "unconfigured" + (provider.reason ? ": " + provider.reason : "") };
  }
  const traffic = provider.traffic || {};
  const open = traffic.open_targets || 0;
  if (open > 0 || traffic.breaker === "open") {
    return { level: "bad", text: "breaker open" + (traffic.calls_1m ? ", " + percent(traffic.error_rate_1m) : "") };
  }
  if (traffic.calls_1m && traffic.error_rate_1m >= 1) return { level: "bad", text: "failing, " + percent(1) };
  if (traffic.breaker === "half_open") return { level: "warn", text: "recovering (breaker half-open)" };
  if (traffic.errors_1m > 0) return { level: "warn", text: "degraded, " + percent(traffic.error_rate_1m) };
  return { level: "ok", text: "healthy" };
}

function fromOverview(entry) {
  if (!entry) return null;
  const level = FROM_OVERVIEW[entry.state];
  if (!level) return null;
  if (level === "ok") return { level, text: "healthy" };
  const parts = [entry.state === "down" ? "down" : "degraded"];
  if (entry.breakers_open) parts.push(entry.breakers_open + " breaker" + (entry.breakers_open === 1 ? "" : "s") + " open");
  if (entry.error_rate) parts.push(percent(entry.error_rate));
  return { level, text: parts.join(", ") };
}

// provider: an entry of /admin/api/config's "providers"; overviewEntry: the same provider in
// /admin/api/overview's "providers", or undefined.
export function providerHealth(provider, overviewEntry) {
  const live = fromLiveFacts(provider);
  const verdict = fromOverview(overviewEntry);
  if (!verdict) return live;
  return RANK[verdict.level] > RANK[live.level] ? verdict : live;
}

// Upstream calls of the last minute, as /health counts them.
export function trafficText(traffic) {
  if (!traffic || !traffic.calls_1m) return "idle";
  const parts = [traffic.calls_1m + (traffic.calls_1m === 1 ? " call" : " calls"), percent(traffic.error_rate_1m)];
  if (traffic.ewma_ttfb_ms !== null && traffic.ewma_ttfb_ms !== undefined) {
    parts.push(Math.round(traffic.ewma_ttfb_ms) + " ms");
  }
  return parts.join(", ");
}

export function breakersText(targets) {
  const entries = Object.entries(targets || {});
  return entries.length ? entries.map(([label, state]) => label + ": " + state.replace("_", "-")).join(", ") : "—";
}
