// The Usage page (the governance plugin's GET /admin/api/usage): requests, tokens and cost over
// time, each as a stacked bar chart (one bar segment per point the API returned, coloured by
// model, key, team or provider) with a table of the same points beside it, the range's totals,
// and the totals per group. The names of keys and teams come from their own lists.

import { api, errorOf, missingRoute } from "./api.js";
import { SERIES, stackedBars } from "./charts.js";
import { $, cell, el, emptyRow } from "./dom.js";

const HOUR = 3600;
const DAY = 86400;
// range -> [granularity, seconds covered]; the API serves hourly points for a week at most.
const RANGES = { "24h": ["hour", DAY], "7d": ["hour", 7 * DAY], "30d": ["day", 30 * DAY] };
const METRICS = [
  { id: "requests", title: "Requests", value: (p) => p.requests || 0 },
  { id: "tokens", title: "Tokens (in + out)", value: (p) => (p.tokens_in || 0) + (p.tokens_out || 0) },
  { id: "cost", title: "Cost", value: (p) => p.cost || 0 },
];
const NONE = { key: "(no issued key)", team: "(no team)", model: "(no model)", provider: "(no provider)" };

let answer = null;
let names = {}; // key or team id -> its name, for the group shown

function format(value, metric) {
  if (metric === "cost") return (Math.round(value * 10000) / 10000).toLocaleString(undefined, { maximumFractionDigits: 4 });
  if (value >= 10000) return Math.round(value / 1000).toLocaleString() + "k";
  return Math.round(value).toLocaleString();
}

function groupName(group) {
  if (group === null || group === undefined) return answer && answer.group_by ? NONE[answer.group_by] || "(none)" : "all";
  return names[group] ? names[group] + " (" + group + ")" : group;
}

async function loadNames(groupBy) {
  names = {};
  if (groupBy !== "key" && groupBy !== "team") return;
  const listed = await api("GET", groupBy === "key" ? "/admin/api/keys" : "/admin/api/teams");
  for (const entry of (listed.ok && listed.data && listed.data.data) || []) names[entry.id] = entry.name;
}

export async function load() {
  const [granularity, span] = RANGES[$("u-range").value] || RANGES["24h"];
  const width = granularity === "hour" ? HOUR : DAY;
  const now = Date.now() / 1000;
  // The API widens the window to whole buckets: start one bucket in so it stays within the span.
  const start = Math.floor(now - span + width);
  const query = new URLSearchParams({ granularity, start: String(start) });
  const groupBy = $("u-group").value;
  if (groupBy) query.set("group_by", groupBy);
  const [result] = await Promise.all([api("GET", "/admin/api/usage?" + query), loadNames(groupBy)]);
  if (!result.ok) {
    answer = null;
    const text = missingRoute(result)
      ? "Usage needs the governance plugin (sluicegate-governance), which this gateway does not have."
      : errorOf(result).message;
    $("usage-unavailable").replaceChildren(el("p", { className: "panel-title" }, "Not available here"), el("p", {}, text));
    $("usage-unavailable").hidden = false;
    $("usage-body").hidden = true;
    return;
  }
  answer = result.data;
  $("usage-unavailable").hidden = true;
  $("usage-body").hidden = false;
}

// -- charts ----------------------------------------------------------------------------------

function seconds(iso) { return Date.parse(iso) / 1000; }

function timeLabel(granularity, short) {
  return (value) => {
    const date = new Date(value * 1000);
    if (granularity === "day") return date.toLocaleDateString([], { month: "short", day: "numeric" });
    return short
      ? date.toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit" })
      : date.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  };
}

// Groups by their total requests, the biggest first: the first SERIES - 1 get a colour each.
function colours(points) {
  const totals = new Map();
  for (const point of points) totals.set(point.group, (totals.get(point.group) || 0) + (point.requests || 0));
  const ordered = [...totals.entries()].sort((a, b) => b[1] - a[1] || String(a[0]).localeCompare(String(b[0])))
    .map(([group]) => group);
  const index = new Map(ordered.map((group, i) => [group, Math.min(i, SERIES - 1)]));
  return { ordered, of: (group) => index.get(group) };
}

function legend(palette) {
  const named = palette.ordered.slice(0, SERIES - 1);
  const rest = palette.ordered.length - named.length;
  const items = named.map((group) => el("li", {},
    el("span", { className: "swatch series-" + palette.of(group), "aria-hidden": "true" }), groupName(group)));
  if (rest > 0) {
    items.push(el("li", {}, el("span", { className: "swatch series-" + (SERIES - 1), "aria-hidden": "true" }),
      "other (" + rest + " more)"));
  }
  return el("ul", { className: "legend" }, ...items);
}

function dataTable(metric, points, time) {
  const grouped = Boolean(answer.group_by);
  const head = ["Time", ...(grouped ? [answer.group_by] : []), metric.title];
  const rows = points.map((point) => el("tr", { "data-start": point.start, "data-group": point.group === null ? "" : point.group },
    cell("Time", time(seconds(point.start))), grouped ? cell(answer.group_by, groupName(point.group)) : null,
    cell(metric.title, format(metric.value(point), metric.id))));
  return el("table", { className: "cards data", id: "usage-table-" + metric.id },
    el("caption", {}, metric.title + ": every point of the chart"),
    el("thead", {}, el("tr", {}, ...head.map((text) => el("th", { scope: "col" }, text)))),
    el("tbody", {}, ...(rows.length ? rows : [emptyRow(head.length, "No requests in this range.")])));
}

function chart(metric, palette) {
  const width = answer.granularity === "hour" ? HOUR : DAY;
  const start = seconds(answer.start);
  const buckets = Math.max(1, Math.round((seconds(answer.end) - start) / width));
  // Stacked in colour order, so a group keeps its place in every bar.
  const points = [...answer.data].sort((a, b) => a.start.localeCompare(b.start)
    || palette.ordered.indexOf(a.group) - palette.ordered.indexOf(b.group));
  const by = answer.group_by ? " by " + answer.group_by : "";
  const label = metric.title + " per " + answer.granularity + by + ": " + points.length + " points; "
    + "the table after the chart lists them.";
  const figure = stackedBars({
    points: points.map((point) => ({ start: seconds(point.start), group: point.group, name: groupName(point.group),
      value: metric.value(point) })),
    start, width, buckets, label,
    colour: (point) => palette.of(point.group),
    format: (value) => format(value, metric.id), time: timeLabel(answer.granularity, true),
  });
  const titleId = "usage-title-" + metric.id;
  return el("section", { className: "chart", id: "usage-chart-" + metric.id, "aria-labelledby": titleId },
    el("h2", { id: titleId }, metric.title),
    el("div", { className: "chart-frame" }, figure),
    answer.group_by ? legend(palette) : null,
    el("details", { className: "chart-data" }, el("summary", {}, "Table of the " + metric.title.toLowerCase() + " chart"),
      dataTable(metric, points, timeLabel(answer.granularity, false))));
}

// -- totals ----------------------------------------------------------------------------------

function groupRows(data) {
  const groups = new Map();
  for (const point of data.data) {
    const sum = groups.get(point.group) || { requests: 0, errors: 0, tokens_in: 0, tokens_out: 0, cost: 0 };
    for (const field of Object.keys(sum)) sum[field] += point[field] || 0;
    groups.set(point.group, sum);
  }
  return [...groups.entries()].sort((a, b) => b[1].requests - a[1].requests).map(([group, sum]) =>
    el("tr", { "data-group": group === null ? "" : group }, cell("Group", groupName(group)),
      cell("Requests", format(sum.requests)), cell("Errors", format(sum.errors)),
      cell("Tokens in", format(sum.tokens_in)), cell("Tokens out", format(sum.tokens_out)),
      cell("Cost", format(sum.cost, "cost"))));
}

function tile(label, value) {
  return el("div", { className: "tile" }, el("p", { className: "tile-label" }, label), el("p", { className: "tile-value" }, value));
}

export function render() {
  if (!answer) return;
  const total = answer.total;
  $("usage-totals").replaceChildren(
    tile("Requests", format(total.requests)), tile("Errors", format(total.errors)),
    tile("Tokens in", format(total.tokens_in)), tile("Tokens out", format(total.tokens_out)),
    tile("Cost", format(total.cost, "cost")));
  $("usage-range-text").textContent = "Per " + answer.granularity + ", " + answer.start.slice(0, 16).replace("T", " ")
    + " to " + answer.end.slice(0, 16).replace("T", " ") + " UTC" + (answer.group_by ? ", by " + answer.group_by : "");
  // Open tables stay open across the page's refreshes.
  const open = new Set([...document.querySelectorAll("#usage-charts details[open]")].map((d) => d.closest("section").id));
  const palette = colours(answer.data);
  $("usage-charts").replaceChildren(...METRICS.map((metric) => chart(metric, palette)));
  for (const id of open) $(id).querySelector("details").open = true;
  $("usage-groups-title").textContent = answer.group_by ? "Totals by " + answer.group_by : "Totals";
  const rows = groupRows(answer);
  $("usage-groups").tBodies[0].replaceChildren(...(rows.length ? rows : [emptyRow(6, "No requests in this range.")]));
  $("usage-asof").textContent = "As of " + new Date().toLocaleTimeString();
}

export function init() {
  $("u-submit").dataset.focus = "usage-refresh";
  const reload = async () => { await load(); render(); };
  $("usage-form").addEventListener("submit", (event) => { event.preventDefault(); reload(); });
  $("u-range").addEventListener("change", reload);
  $("u-group").addEventListener("change", reload);
}
