// The Overview page (GET /admin/api/overview): requests, errors, latency, spend today, the top
// models and keys, the last reload and each provider's state.

import { $, badge, cell, el, emptyRow, timeText } from "./dom.js";
import { coming } from "./placeholder.js";
import { loadOverview, state } from "./state.js";

const LEVEL = { ok: "ok", degraded: "warn", down: "bad" };

function number(value, unit) {
  if (value === null || value === undefined) return "—";
  return (Math.round(value * 10) / 10).toLocaleString() + (unit || "");
}

function money(value) {
  if (value === null || value === undefined) return "—";
  return value.toLocaleString(undefined, { maximumFractionDigits: 4 });
}

function tile(label, value, id, note) {
  return el("div", { className: "tile", "data-tile": id }, el("p", { className: "tile-label" }, label),
    el("p", { className: "tile-value" }, value), note ? el("p", { className: "tile-note" }, note) : null);
}

function reloadTile(reload) {
  const problems = (reload.problems || []).length;
  if (reload.ok === false) {
    return tile("Last reload", "refused", "last-reload", (reload.at ? timeText(reload.at) + ", " : "") + problems
      + (problems === 1 ? " problem" : " problems") + ": the previous config keeps serving");
  }
  return tile("Last reload", reload.at ? timeText(reload.at) : "at start", "last-reload", reload.source || null);
}

function table(caption, headings, rows) {
  return el("table", { className: "cards" },
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...(rows.length ? rows : [emptyRow(headings.length, "Nothing yet.")])));
}

export async function load() { return loadOverview(); }

export function render() {
  const body = $("overview-body");
  if (state.overviewMissing) {
    body.replaceChildren(coming("The overview needs GET /admin/api/overview, which this gateway does not serve yet."));
    return;
  }
  const o = state.overview;
  if (!o) {
    body.replaceChildren(el("p", {}, "Loading…"));
    return;
  }
  const errorRate = o.requests ? Math.round((100 * o.errors) / o.requests) + "%" : "—";
  const spend = o.spend_today === null || o.spend_today === undefined
    ? "— (needs [store])" : money(o.spend_today) + (o.currency ? " " + o.currency : "");
  const reload = o.last_reload || {};
  body.replaceChildren(
    el("div", { className: "tiles" },
      tile("Requests", number(o.requests), "requests", "since the gateway started"),
      tile("Errors", number(o.errors) + " (" + errorRate + ")", "errors", "4xx and 5xx answers"),
      tile("Latency p50", number(o.p50_ms, " ms"), "p50"), tile("Latency p95", number(o.p95_ms, " ms"), "p95"),
      tile("Spend today", spend, "spend-today", o.store_problem ? "the store: " + o.store_problem : "UTC day"),
      reloadTile(reload)),
    table("Providers", ["Provider", "State", "Breakers open", "Error rate"], (o.providers || []).map((p) =>
      el("tr", {}, cell("Provider", p.id), cell("State", badge(LEVEL[p.state] || "warn", p.state)),
        cell("Breakers open", p.breakers_open), cell("Error rate", Math.round(100 * (p.error_rate || 0)) + "%")))),
    table("Top models", ["Model", "Requests"], (o.top_models || []).map((m) =>
      el("tr", {}, cell("Model", m.model), cell("Requests", m.requests)))),
    table("Top keys", ["Key", "Requests", "Cost"], (o.top_keys || []).map((k) =>
      el("tr", {}, cell("Key", k.name || k.key_id), cell("Requests", k.requests), cell("Cost", money(k.cost))))));
  $("overview-asof").textContent = "As of " + new Date().toLocaleTimeString();
}
