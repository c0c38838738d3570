// An error shown under the input it is about: the message element "<input id>-error" is shown and
// named by the input's aria-describedby, and the input is marked aria-invalid.

import { $ } from "./dom.js";

export function showFieldError(inputId, text) {
  const input = $(inputId);
  const message = $(inputId + "-error");
  message.textContent = text;
  message.hidden = false;
  input.setAttribute("aria-invalid", "true");
  const described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
  if (!described.includes(message.id)) input.setAttribute("aria-describedby", [...described, message.id].join(" "));
}

export function clearFieldErrors(inputIds) {
  for (const id of inputIds) {
    $(id).removeAttribute("aria-invalid");
    const message = $(id + "-error");
    message.hidden = true;
    message.textContent = "";
  }
}
