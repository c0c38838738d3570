// The Playground page: not built yet. Chatting needs a client key (the admin token is refused on
// /v1) and a view of the route taken; until then the page says so.

import { $ } from "./dom.js";
import { coming } from "./placeholder.js";

export function render() {
  $("playground-body").replaceChildren(coming("The playground (chat with any alias, with the route taken, retries and cost) is not "
    + "built yet. Until then, try a model with any OpenAI client and a client key."));
}
