// The Usage page (the governance plugin's GET /admin/api/usage): requests, tokens or cost over
// time as a bar chart (stacked by model, key, team or provider), and a table of the same totals,
// which is also what a screen reader reads.

import { api, errorOf, missingRoute } from "./api.js";
import { $, cell, el, emptyRow } from "./dom.js";

const HOUR = 3600;
const DAY = 86400;
const RANGES = { "24h": ["hour", DAY], "7d": ["hour", 7 * DAY], "30d": ["day", 30 * DAY], "90d": ["day", 90 * DAY] };
const SERIES = 6; // the biggest groups get a colour each; the rest are summed as "other"
const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 720;
const HEIGHT = 220;

let answer = null;

function metricOf(point, metric) {
  if (metric === "tokens") return point.tokens_in + point.tokens_out;
  return point[metric] || 0;
}

function format(value, metric) {
  if (metric === "cost") return (Math.round(value * 10000) / 10000).toLocaleString();
  return Math.round(value).toLocaleString();
}

export async function load() {
  const [granularity, span] = RANGES[$("u-range").value] || RANGES["30d"];
  const width = granularity === "hour" ? HOUR : DAY;
  const now = Date.now() / 1000;
  // The API widens the window to whole buckets: start one bucket in so it stays within the span.
  const start = Math.floor(now - span + width);
  const query = new URLSearchParams({ granularity, start: String(start) });
  if ($("u-group").value) query.set("group_by", $("u-group").value);
  const result = await api("GET", "/admin/api/usage?" + query);
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

// -- the chart -------------------------------------------------------------------------------

function svg(tag, attributes, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  node.append(...children);
  return node;
}

function bucketLabel(seconds, granularity) {
  const date = new Date(seconds * 1000);
  return granularity === "hour"
    ? date.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" })
    : date.toLocaleDateString([], { month: "short", day: "numeric" });
}

// Groups by total, the biggest first; beyond SERIES - 1 they are folded into "other".
function seriesOf(points, metric) {
  const totals = new Map();
  for (const point of points) {
    const group = point.group === null || point.group === undefined ? "all" : point.group;
    totals.set(group, (totals.get(group) || 0) + metricOf(point, metric));
  }
  const ordered = [...totals.entries()].sort((a, b) => b[1] - a[1]).map(([group]) => group);
  if (ordered.length <= SERIES) return { names: ordered, of: (group) => group };
  const kept = new Set(ordered.slice(0, SERIES - 1));
  return { names: [...kept, "other"], of: (group) => (kept.has(group) ? group : "other") };
}

function drawChart(data, metric) {
  const width = data.granularity === "hour" ? HOUR : DAY;
  const start = Date.parse(data.start) / 1000;
  const end = Date.parse(data.end) / 1000;
  const buckets = Math.max(1, Math.round((end - start) / width));
  const series = seriesOf(data.data, metric);
  // stacks[bucket][series] = value
  const stacks = Array.from({ length: buckets }, () => new Map());
  for (const point of data.data) {
    const index = Math.floor((Date.parse(point.start) / 1000 - start) / width);
    if (index < 0 || index >= buckets) continue;
    const name = series.of(point.group === null || point.group === undefined ? "all" : point.group);
    stacks[index].set(name, (stacks[index].get(name) || 0) + metricOf(point, metric));
  }
  const highest = Math.max(0, ...stacks.map((stack) => [...stack.values()].reduce((a, b) => a + b, 0)));
  const slot = WIDTH / buckets;
  const bars = [];
  stacks.forEach((stack, index) => {
    let y = HEIGHT;
    series.names.forEach((name, colour) => {
      const value = stack.get(name) || 0;
      if (!value) return;
      const height = highest ? (value / highest) * (HEIGHT - 10) : 0;
      y -= height;
      const label = bucketLabel(start + index * width, data.granularity) + " · " + name + ": " + format(value, metric) + " " + metric;
      bars.push(svg("rect", { x: (index * slot + slot * 0.1).toFixed(2), y: y.toFixed(2),
        width: Math.max(1, slot * 0.8).toFixed(2), height: Math.max(0.5, height).toFixed(2),
        class: "series-" + colour }, svg("title", {}, label)));
    });
  });
  const chart = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-labelledby": "usage-chart-title",
    preserveAspectRatio: "none", class: "bars" },
  svg("line", { x1: 0, y1: HEIGHT - 0.5, x2: WIDTH, y2: HEIGHT - 0.5, class: "axis" }), ...bars);
  const scale = el("div", { className: "chart-scale" },
    el("span", {}, bucketLabel(start, data.granularity)),
    el("span", {}, "highest: " + format(highest, metric)),
    el("span", {}, bucketLabel(end - width, data.granularity)));
  $("usage-chart").replaceChildren(chart, scale);
  $("usage-legend").replaceChildren(...(data.data.length ? series.names : []).map((name, colour) =>
    el("li", {}, el("span", { className: "swatch series-" + colour, "aria-hidden": "true" }), name)));
}

// -- totals ----------------------------------------------------------------------------------

function groupRows(data) {
  const groups = new Map();
  for (const point of data.data) {
    const name = point.group === null || point.group === undefined ? "all" : point.group;
    const sum = groups.get(name) || { requests: 0, errors: 0, tokens_in: 0, tokens_out: 0, cost: 0 };
    for (const field of Object.keys(sum)) sum[field] += point[field] || 0;
    groups.set(name, sum);
  }
  return [...groups.entries()].sort((a, b) => b[1].requests - a[1].requests).map(([name, sum]) =>
    el("tr", { "data-group": name }, cell("Group", name), cell("Requests", format(sum.requests)),
      cell("Errors", format(sum.errors)), cell("Tokens in", format(sum.tokens_in)),
      cell("Tokens out", format(sum.tokens_out)), cell("Cost", format(sum.cost, "cost"))));
}

function tile(label, value) {
  return el("div", { className: "tile" }, el("p", { className: "tile-label" }, label), el("p", { className: "tile-value" }, value));
}

export function render() {
  if (!answer) return;
  const metric = $("u-metric").value;
  const total = answer.total;
  $("usage-totals").replaceChildren(
    tile("Requests", format(total.requests)), tile("Errors", format(total.errors)),
    tile("Tokens in", format(total.tokens_in)), tile("Tokens out", format(total.tokens_out)),
    tile("Cost", format(total.cost, "cost")));
  const by = answer.group_by ? " by " + answer.group_by : "";
  $("usage-chart-title").textContent = metric.charAt(0).toUpperCase() + metric.slice(1) + " per " + answer.granularity + by
    + ", " + answer.start.slice(0, 16).replace("T", " ") + " to " + answer.end.slice(0, 16).replace("T", " ") + " UTC";
  drawChart(answer, metric);
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
  $("u-metric").addEventListener("change", render);
}
