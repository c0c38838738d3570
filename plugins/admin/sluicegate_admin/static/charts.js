// Hand-written SVG charts (no library, nothing from a CDN): stacked bars over time buckets, one
// rectangle per data point, so the chart shows exactly the points it was given. Each rectangle
// carries a <title> (its bucket, group and value); the page puts a table of the same points
// beside the chart for screen readers and keyboards.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 720;
const HEIGHT = 240;
const LEFT = 64; // room for the value axis' labels
const RIGHT = 8;
const TOP = 10;
const BOTTOM = 26; // room for the time axis' labels
export const SERIES = 6; // colours; groups beyond the fifth share the last ("other")

function svg(tag, attributes, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
  node.append(...children);
  return node;
}

// A round number at or above `value` (1, 2, 2.5, 5 x 10^n), so the axis reads well.
export function niceCeiling(value) {
  if (!(value > 0)) return 1;
  const power = Math.pow(10, Math.floor(Math.log10(value)));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * power >= value - 1e-12) return step * power;
  }
  return 10 * power;
}

// spec: {points: [{start, group, name, value}] (start in seconds; name: the group as shown), start,
// width (seconds a bucket), buckets, colour(point) -> index, label: the chart's accessible name, format(value) -> text,
// time(seconds) -> text}. Returns the <svg>.
export function stackedBars(spec) {
  const plotWidth = WIDTH - LEFT - RIGHT;
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const buckets = Math.max(1, spec.buckets);
  const slot = plotWidth / buckets;
  const totals = new Array(buckets).fill(0);
  const placed = [];
  for (const point of spec.points) {
    const index = Math.floor((point.start - spec.start) / spec.width);
    if (index < 0 || index >= buckets) continue;
    placed.push({ point, index });
    totals[index] += Math.max(0, point.value);
  }
  const top = niceCeiling(Math.max(0, ...totals));
  const scale = plotHeight / top;
  const grid = [];
  for (const share of [0, 0.5, 1]) {
    const y = TOP + plotHeight - share * plotHeight;
    grid.push(svg("line", { x1: LEFT, x2: WIDTH - RIGHT, y1: y.toFixed(1), y2: y.toFixed(1),
      class: share === 0 ? "axis" : "gridline" }));
    grid.push(svg("text", { x: LEFT - 6, y: (y + 4).toFixed(1), class: "tick", "text-anchor": "end" },
      spec.format(share * top)));
  }
  const ticks = [0, Math.floor((buckets - 1) / 2), buckets - 1].filter((v, i, all) => all.indexOf(v) === i);
  for (const index of ticks) {
    const x = LEFT + (index + 0.5) * slot;
    const anchor = index === 0 ? "start" : index === buckets - 1 ? "end" : "middle";
    grid.push(svg("text", { x: (anchor === "start" ? LEFT : anchor === "end" ? WIDTH - RIGHT : x).toFixed(1),
      y: HEIGHT - 6, class: "tick", "text-anchor": anchor }, spec.time(spec.start + index * spec.width)));
  }
  // Stacked from the axis up, in the order given (the page sorts by group).
  const stacked = new Array(buckets).fill(0);
  const bars = placed.map(({ point, index }) => {
    const height = Math.max(0, point.value) * scale;
    const y = TOP + plotHeight - stacked[index] - height;
    stacked[index] += height;
    const gap = Math.min(2, slot * 0.15);
    return svg("rect", { x: (LEFT + index * slot + gap / 2).toFixed(2), y: y.toFixed(2),
      width: Math.max(0.5, slot - gap).toFixed(2), height: height.toFixed(2),
      class: "point series-" + spec.colour(point), "data-start": point.start,
      "data-group": point.group === null ? "" : point.group, "data-value": point.value },
    svg("title", {}, spec.time(point.start) + " · " + (point.name || point.group) + ": " + spec.format(point.value)));
  });
  return svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": spec.label, class: "chart-svg",
    focusable: "false" }, ...grid, ...bars);
}
