// Status lines and error panels. An error panel sits next to what caused it, takes focus (so a
// keyboard or screen-reader user lands on it) and gives focus back to that control on Dismiss.

import { $, el, problemItem, restoreFocus } from "./dom.js";

export function notify(id, text) {
  const node = $(id);
  if (node) node.textContent = text;
}

export function clearError(id) {
  const panel = $(id);
  if (!panel) return;
  panel.hidden = true;
  panel.replaceChildren();
}

// error: {message, problems} from api.errorOf; what: "Alias chat" (says what was refused);
// origin: the data-focus key of the control to return to.
export function showError(id, error, what, origin) {
  const panel = $(id);
  const problems = error.problems || [];
  const message = problems.length
    ? what + " was refused; the config keeps serving unchanged:"
    : error.message;
  const dismiss = el("button", { type: "button", className: "dismiss" }, "Dismiss");
  dismiss.addEventListener("click", () => {
    clearError(id);
    if (!restoreFocus(origin)) {
      const page = panel.closest(".page, dialog");
      const heading = page && page.querySelector("h1, h2");
      if (heading) heading.focus();
    }
  });
  panel.replaceChildren(
    el("p", { className: "panel-title" }, "Refused"),
    el("p", {}, message),
    problems.length ? el("ul", {}, ...problems.map(problemItem)) : null,
    dismiss);
  panel.hidden = false;
  panel.focus({ preventScroll: true });
  panel.scrollIntoView({ block: "nearest" });
}
