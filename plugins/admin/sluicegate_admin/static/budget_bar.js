// A budget as a bar: what is spent (solid) and what in-flight requests have reserved (hatched)
// against the limit, from the governance views' "spend" ({spent, reserved, limit}). The numbers
// are written beside it too, so the bar is never the only way to read them.

import { el } from "./dom.js";

// Up to 4 decimals: a request often costs a fraction of a cent.
export function money(value) {
  return value.toLocaleString(undefined, { maximumFractionDigits: 4 });
}

function percent(part, whole) {
  if (!(whole > 0)) return part > 0 ? 100 : 0;
  return Math.max(0, Math.min(100, (100 * part) / whole));
}

// owner: a key or team view ({budget: {amount, period}, spend: {spent, reserved, limit}});
// what: how the bar is named for screen readers ("Budget of key ci-app").
export function budgetBar(owner, what) {
  if (!owner.budget) return el("span", {}, "none");
  const spend = owner.spend || { spent: 0, reserved: 0, limit: owner.budget.amount };
  const limit = spend.limit === undefined || spend.limit === null ? owner.budget.amount : spend.limit;
  const spent = spend.spent || 0;
  const reserved = spend.reserved || 0;
  const used = spent + reserved;
  const spentShare = percent(spent, limit);
  const reservedShare = Math.min(100 - spentShare, percent(reserved, limit));
  const level = used >= limit ? "bad" : used >= 0.8 * limit ? "warn" : "ok";
  const text = money(spent) + " spent" + (reserved ? " + " + money(reserved) + " reserved" : "") + " of "
    + money(limit) + " (" + owner.budget.period + ")";
  const bar = el("div", { className: "bar " + level, role: "meter", "aria-label": what,
    "aria-valuemin": "0", "aria-valuemax": String(limit > 0 ? limit : 1), "aria-valuenow": String(Math.min(used, limit > 0 ? limit : 1)),
    "aria-valuetext": text, "data-spent": String(spent), "data-reserved": String(reserved), "data-limit": String(limit) },
  el("span", { className: "spent" }), el("span", { className: "reserved" }));
  // Widths through the CSSOM: the page's CSP allows no inline style attributes.
  bar.children[0].style.width = spentShare.toFixed(2) + "%";
  bar.children[1].style.width = reservedShare.toFixed(2) + "%";
  return el("div", { className: "budget" }, bar, el("span", { className: "budget-text" }, text));
}
