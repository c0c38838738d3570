// The "coming" state of a page this console or this gateway cannot show yet, said plainly.

import { el } from "./dom.js";

export function coming(text) {
  return el("div", { className: "panel coming" }, el("p", { className: "panel-title" }, "Coming soon"), el("p", {}, text));
}
