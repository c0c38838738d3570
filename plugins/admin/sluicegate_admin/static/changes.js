// One config change through the admin API: send it, say what happened next to the control that
// asked, reload the shared state and put focus back where the user was.

import { api, errorOf } from "./api.js";
import { clearError, notify, showError } from "./feedback.js";
import { restoreFocus } from "./dom.js";

let rerender = async () => {};

// The console registers how to reload and redraw after a change.
export function onChanged(callback) { rerender = callback; }

// where: {notice, errors, origin, after}: ids of the status line and error panel to use, the
// data-focus key of the control to refocus, and where focus goes on success (a key or an element).
export async function change(method, path, body, what, where) {
  clearError(where.errors);
  const answer = await api(method, path, body);
  if (answer.ok) notify(where.notice, what + " saved and reloaded.");
  else notify(where.notice, "");
  await rerender();
  if (answer.ok) {
    focusAfter(where.after || where.origin);
  } else {
    showError(where.errors, errorOf(answer), what, where.origin);
  }
  return answer;
}

export function focusAfter(target) {
  if (!target) return;
  if (typeof target === "string") {
    restoreFocus(target);
  } else if (target.focus) {
    target.focus();
  }
}
