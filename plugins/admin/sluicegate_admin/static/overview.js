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

function tile(label, value) {
  return el("div", { className: "tile" }, el("p", { className: "tile-label" }, label), el("p", { className: "tile-value" }, value));
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
    ? "— (needs [store])" : number(o.spend_today) + " " + (o.currency || "");
  const reload = o.last_reload || {};
  body.replaceChildren(
    el("div", { className: "tiles" },
      tile("Requests", number(o.requests)), tile("Errors", number(o.errors) + " (" + errorRate + ")"),
      tile("Latency p50", number(o.p50_ms, " ms")), tile("Latency p95", number(o.p95_ms, " ms")),
      tile("Spend today", spend),
      tile("Last reload", reload.ok === false ? "refused" : reload.at ? timeText(reload.at) : "at start")),
    table("Providers", ["Provider", "State", "Breakers open", "Error rate"], (o.providers || []).map((p) =>
      el("tr", {}, cell("Provider", p.id), cell("State", badge(LEVEL[p.state] || "warn", p.state)),
        cell("Breakers open", p.breakers_open), cell("Error rate", Math.round(100 * (p.error_rate || 0)) + "%")))),
    table("Top models", ["Model", "Requests"], (o.top_models || []).map((m) =>
      el("tr", {}, cell("Model", m.model), cell("Requests", m.requests)))),
    table("Top keys", ["Key", "Requests", "Cost"], (o.top_keys || []).map((k) =>
      el("tr", {}, cell("Key", k.name || k.key_id), cell("Requests", k.requests), cell("Cost", number(k.cost))))));
  $("overview-asof").textContent = "As of " + new Date().toLocaleTimeString();
}
