// The vendor-specific inputs of the "Add model" dialog (a region, a project, a credentials file):
// one labelled input per field the chosen preset declares, with its hint, its default, and the
// same error slot as the dialog's fixed inputs. The dialog's convention is that an unmarked
// field is required, so optional ones say "(optional)" and required ones carry `required` too,
// which screen readers announce (the form is novalidate: the browser never blocks a save).

import { $, el } from "./dom.js";

// The server names a refused option "options.<name>".
const PARAM = "options.";

export function inputId(name) {
  return "add-option-" + name.replace(/[^A-Za-z0-9_-]/g, "-");
}

// The input a response's error.param is about, or null.
export function inputForParam(param) {
  return typeof param === "string" && param.startsWith(PARAM) ? $(inputId(param.slice(PARAM.length))) : null;
}

function fieldBox(field) {
  const id = inputId(field.name);
  const described = [field.hint ? id + "-hint" : null, id + "-error"].filter(Boolean).join(" ");
  const input = el("input", {
    id, name: "new-provider-option-" + field.name, autocomplete: "off", spellcheck: "false",
    value: field.default || "", required: Boolean(field.required), "aria-describedby": described,
    "data-option": field.name,
  });
  return el("div", { className: "field" },
    el("label", { for: id }, field.label + (field.required ? "" : " (optional)")),
    input,
    field.hint ? el("p", { className: "hint", id: id + "-hint" }, field.hint) : null,
    el("p", { className: "field-error", id: id + "-error", hidden: true }));
}

// Replaces the container's inputs with the preset's fields (none: the container hides).
export function render(container, fields) {
  const list = fields || [];
  container.replaceChildren(...list.map(fieldBox));
  container.hidden = list.length === 0;
}

export function inputIds(container) {
  return [...container.querySelectorAll("input[data-option]")].map((input) => input.id);
}

// The values to send: every field filled in, trimmed; empty ones are left out.
export function values(container) {
  const found = {};
  for (const input of container.querySelectorAll("input[data-option]")) {
    const value = input.value.trim();
    if (value) found[input.dataset.option] = value;
  }
  return found;
}

// [input id, message] for each required field left empty.
export function missing(container) {
  return [...container.querySelectorAll("input[data-option][required]")]
    .filter((input) => !input.value.trim())
    .map((input) => [input.id, "Enter the " + input.labels[0].textContent.toLowerCase() + "."]);
}
