// Small DOM helpers. Text always goes in as textContent: nothing from the gateway becomes markup.

export const $ = (id) => document.getElementById(id);

// el("td", {className: "x", "data-label": "Id"}, "text", child, ...)
export function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "className") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

// A table cell that, on a phone, shows its column name before its value (see .cards in admin.css).
export function cell(label, content, className) {
  const td = el("td", { "data-label": label, className });
  if (content instanceof Node) td.append(content);
  else td.textContent = content === null || content === undefined ? "" : String(content);
  return td;
}

export function emptyRow(columns, text) {
  return el("tr", {}, el("td", { colspan: columns, className: "empty" }, text));
}

export function badge(level, text) {
  return el("span", { className: "badge " + level }, text);
}

// Re-rendering replaces the focused element; controls carry data-focus so focus can follow.
export function focusKey() {
  const active = document.activeElement;
  return active && active.dataset ? active.dataset.focus || null : null;
}

export function restoreFocus(key) {
  if (!key) return false;
  const target = document.querySelector(`[data-focus="${CSS.escape(key)}"]`);
  if (target && !target.closest("[hidden]")) {
    target.focus();
    return true;
  }
  return false;
}

export function list(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

export function problemItem(problem) {
  const item = el("li");
  if (problem.path) item.append(el("code", {}, problem.path), ": ");
  item.append(problem.message);
  return item;
}

export function timeText(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString();
}
