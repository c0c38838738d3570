// The Playground page: chat with any alias through the gateway's own request chain
// (POST /admin/api/playground, admin token only). A streamed answer appears as it arrives; under
// each answer, the route it took (every upstream call), retries, cache, latency, tokens and cost.
// Enter sends, Shift+Enter starts a new line, Escape or Stop ends a running answer; focus comes
// back to the message box after every answer. Nothing here ever holds or shows a key.

import { api, errorOf, token } from "./api.js";
import { $, badge, el } from "./dom.js";
import { clearError, showError } from "./feedback.js";
import { clearFieldErrors, showFieldError } from "./field_errors.js";
import { canWrite, state } from "./state.js";

const ROUTE = "/admin/api/playground";
const MAX_TOKENS = 1024; // the route's cap (sluicegate_admin/playground.py)
const FIELDS = ["pg-model", "pg-max", "pg-stream", "pg-message"];

// The conversation sent with each message: {role, content} of the turns that were answered.
let history = [];
let running = null; // {controller, turn} while an answer is on its way
let builtFor = null; // the role the page was drawn for ("admin" or "viewer")

// -- the page --------------------------------------------------------------------------------

function field(id, label, control, hint) {
  const hintId = hint ? id + "-hint" : null;
  control.id = id;
  const described = [hintId, id + "-error"].filter(Boolean).join(" ");
  control.setAttribute("aria-describedby", described);
  return el("div", { className: "field" },
    el("label", { for: id }, label), control,
    hint ? el("p", { className: "hint", id: hintId }, hint) : null,
    el("p", { className: "field-error", id: id + "-error", hidden: true }));
}

function build() {
  const body = $("playground-body");
  if (!canWrite()) {
    body.replaceChildren(el("div", { className: "panel" },
      el("p", { className: "panel-title" }, "Admin token needed"),
      el("p", {}, "The playground sends real requests to the vendors, which they charge for, so it needs the "
        + "admin token. You are signed in with the read-only viewer token.")));
    return;
  }
  const model = el("select", { name: "playground-model", "data-focus": "pg-model" });
  const max = el("input", { name: "playground-max-tokens", type: "number", min: "1", max: String(MAX_TOKENS),
    inputmode: "numeric", autocomplete: "off", placeholder: String(MAX_TOKENS), "data-focus": "pg-max" });
  const stream = el("input", { name: "playground-stream", type: "checkbox", checked: true, "data-focus": "pg-stream" });
  stream.id = "pg-stream";
  stream.setAttribute("aria-describedby", "pg-stream-error");
  const message = el("textarea", { name: "playground-message", rows: "4", autocomplete: "off",
    "data-focus": "pg-message" });
  message.addEventListener("keydown", onKey);

  const form = el("form", { id: "pg-form", className: "playground", novalidate: true },
    el("p", { className: "hint" }, "Each message goes through the gateway like a client's request: routing, "
      + "retries, fallbacks, breakers and the cache all apply, and the vendor charges for it."),
    el("div", { className: "pg-settings" },
      field("pg-model", "Model", model),
      field("pg-max", "Max tokens", max, "at most " + MAX_TOKENS),
      el("div", { className: "field check" }, stream, el("label", { for: "pg-stream" }, "Stream the answer"),
        el("p", { className: "field-error", id: "pg-stream-error", hidden: true }))),
    el("h2", { id: "pg-conversation-title", className: "sr-only" }, "Conversation"),
    el("p", { className: "hint", id: "pg-empty" }, "No messages yet: pick a model, type a message and press Enter."),
    el("ol", { id: "pg-transcript", className: "transcript", "aria-labelledby": "pg-conversation-title" }),
    el("div", { className: "panel bad", id: "pg-errors", role: "alert", tabindex: "-1", hidden: true }),
    field("pg-message", "Message", message, "Enter sends, Shift+Enter starts a new line, Escape stops an answer."),
    el("div", { className: "actions" },
      el("button", { type: "submit", className: "primary", id: "pg-send", "data-focus": "pg-send" }, "Send"),
      el("button", { type: "button", id: "pg-stop", disabled: true, onclick: stop }, "Stop"),
      el("button", { type: "button", id: "pg-new", "data-focus": "pg-new", onclick: newChat }, "New chat")),
    el("p", { className: "notice", id: "pg-status", role: "status" }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  body.replaceChildren(form);
  history = [];
}

function fillModels() {
  const select = $("pg-model");
  const chosen = select.value;
  // Glob aliases ("claude-*") are patterns, not names a request can use as they are.
  const aliases = ((state.config && state.config.models) || [])
    .filter((m) => m.serving && !m.alias.includes("*")).map((m) => m.alias);
  select.replaceChildren(...aliases.map((alias) => new Option(alias, alias)));
  if (aliases.includes(chosen)) select.value = chosen;
}

export function render() {
  const role = canWrite() ? "admin" : "viewer";
  if (builtFor !== role || !$("playground-body").firstChild) {
    build();
    builtFor = role;
  }
  if (role === "admin") fillModels();
}

// -- keys and buttons ------------------------------------------------------------------------

function onKey(event) {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    if (!running) $("pg-form").requestSubmit();
  } else if (event.key === "Escape" && running) {
    event.preventDefault();
    stop();
  }
}

function stop() {
  if (running) running.controller.abort();
}

function newChat() {
  stop();
  history = [];
  $("pg-transcript").replaceChildren();
  $("pg-empty").hidden = false;
  $("pg-status").textContent = "New chat started.";
  clearError("pg-errors");
  $("pg-message").focus();
}

function setRunning(value) {
  running = value;
  $("pg-send").disabled = value !== null;
  $("pg-stop").disabled = value === null;
}

// -- turns -----------------------------------------------------------------------------------

function addTurn(role, who, text) {
  const words = document.createTextNode(text);
  const item = el("li", { className: "turn " + role },
    el("p", { className: "who" }, who), el("p", { className: "text" }, words));
  $("pg-transcript").append(item);
  $("pg-empty").hidden = true;
  return { item, words };
}

function number(value) {
  return value === null || value === undefined ? "?" : String(value);
}

function costText(meta) {
  if (meta.cost === null || meta.cost === undefined) return "no price set for this target";
  // Four significant digits keep small costs readable (0.000015, not 1.5e-5 or 0.00).
  const shown = meta.cost === 0 ? "0" : Number(meta.cost.toPrecision(4)).toFixed(10).replace(/\.?0+$/, "");
  return shown + (meta.currency ? " " + meta.currency : "");
}

function attemptItem(attempt) {
  const ok = attempt.error_class === null || attempt.error_class === undefined;
  const status = attempt.status === null || attempt.status === undefined ? "no answer" : "HTTP " + attempt.status;
  return el("li", {}, el("code", {}, attempt.target), " ",
    badge(ok ? "ok" : "bad", ok ? status : status + " · " + attempt.error_class),
    " " + Math.round(attempt.latency_ms) + " ms");
}

function metaBox(meta) {
  const route = meta.route || [];
  const facts = [];
  if (meta.retries) facts.push(meta.retries === 1 ? "1 retry" : meta.retries + " retries");
  if (meta.fallback) facts.push("fell back");
  if (meta.hedged) facts.push("hedged");
  if (meta.degraded) facts.push("the [degrade] message");
  if (meta.cache) facts.push("cache " + meta.cache);
  facts.push(Math.round(meta.latency_ms) + " ms");
  if (meta.ttft_ms !== null && meta.ttft_ms !== undefined) facts.push("first text after " + Math.round(meta.ttft_ms) + " ms");
  facts.push("tokens " + number(meta.tokens_in) + " in / " + number(meta.tokens_out) + " out");
  facts.push("cost " + costText(meta));
  return el("div", { className: "pg-meta" },
    el("p", { className: "pg-meta-title" }, route.length ? "Route taken" : "Route taken: no upstream call"),
    route.length ? el("ol", { className: "route" }, ...route.map(attemptItem)) : null,
    el("p", { className: "pg-facts" }, facts.join(" · ")),
    el("p", { className: "pg-facts" }, "Request " + meta.request_id));
}

// -- sending ---------------------------------------------------------------------------------

const FIELD_OF = { model: "pg-model", max_tokens: "pg-max", stream: "pg-stream" };

function fieldFor(param) {
  if (!param) return null;
  if (param.startsWith("messages")) return "pg-message";
  return FIELD_OF[param] || null;
}

function request(text) {
  const body = { model: $("pg-model").value, messages: [...history, { role: "user", content: text }],
    stream: $("pg-stream").checked };
  const max = $("pg-max").value.trim();
  if (max) body.max_tokens = Number.isFinite(Number(max)) ? Number(max) : max;
  return body;
}

function contentOf(answer) {
  const choice = answer && Array.isArray(answer.choices) ? answer.choices[0] : null;
  const content = choice && choice.message ? choice.message.content : null;
  return typeof content === "string" ? content : "";
}

// One server-sent event frame: {event, data}.
function frameOf(text) {
  let event = null;
  const data = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  return { event, data: data.join("\n") };
}

function parsed(text) {
  try { return JSON.parse(text); } catch (err) { return null; }
}

// Reads the stream into the turn as it arrives; returns {meta, error} when it ends.
async function readStream(response, turn) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const found = { meta: null, error: null };
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = frameOf(buffer.slice(0, cut).replace(/\r/g, ""));
      buffer = buffer.slice(cut + 2);
      if (frame.data === "[DONE]") continue;
      const data = parsed(frame.data);
      if (!data) continue;
      if (frame.event === "sluicegate") found.meta = data;
      else if (data.error) found.error = data.error;
      else {
        for (const choice of data.choices || []) {
          const piece = choice.delta && choice.delta.content;
          if (typeof piece === "string" && piece) turn.words.appendData(piece);
        }
      }
    }
  }
  return found;
}

// The POST, streamed or not (Stop aborts either): {ok, status, data} for a JSON answer,
// {streamed: true, meta, error} for a stream read to its end. Throws AbortError when stopped.
async function ask(body, turn, signal) {
  let response;
  try {
    response = await fetch(ROUTE, { method: "POST", cache: "no-store", signal, body: JSON.stringify(body),
      headers: { Authorization: "Bearer " + token(), "Content-Type": "application/json" } });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    return { ok: false, status: 0, data: { error: { message: "The gateway cannot be reached: " + err.message } } };
  }
  if (response.status === 401) {
    // The console's sign-out lives in api(): let it meet the refused token too.
    await api("GET", "/admin/api/whoami");
    return { ok: false, status: 401, data: null };
  }
  if (!(response.headers.get("Content-Type") || "").startsWith("text/event-stream")) {
    let data = null;
    try { data = await response.json(); } catch (err) {
      if (err.name === "AbortError") throw err;
      data = null;
    }
    return { ok: response.ok, status: response.status, data };
  }
  return { ok: true, status: 200, streamed: true, ...(await readStream(response, turn)) };
}

function refusedField(error, text) {
  const id = fieldFor(error.param);
  if (!id) return false;
  showFieldError(id, error.message);
  $(id).focus();
  if (!$("pg-message").value) $("pg-message").value = text;
  return true;
}

async function send() {
  if (running) return;
  const message = $("pg-message");
  const text = message.value;
  clearFieldErrors(FIELDS);
  clearError("pg-errors");
  if (!$("pg-model").value) {
    showFieldError("pg-model", "No alias is serving: add one on the Models page first.");
    $("pg-model").focus();
    return;
  }
  if (!text.trim()) {
    showFieldError("pg-message", "Type a message first.");
    message.focus();
    return;
  }
  const body = request(text);
  const alias = body.model;
  const asked = addTurn("user", "You", text);
  const turn = addTurn("assistant", alias, "");
  turn.item.setAttribute("aria-busy", "true");
  message.value = "";
  message.focus();
  const controller = new AbortController();
  setRunning({ controller, turn });
  $("pg-status").textContent = "Asking " + alias + "…";
  let outcome;
  try {
    outcome = await ask(body, turn, controller.signal);
  } catch (err) {
    outcome = err.name === "AbortError" ? { stopped: true } : { ok: false, status: 0,
      data: { error: { message: "The answer could not be read: " + err.message } } };
  } finally {
    setRunning(null);
    turn.item.removeAttribute("aria-busy");
  }
  finish(outcome, { text, alias, asked, turn });
  if (!outcome.refused) message.focus();
}

// Puts the outcome on the page: the answer and its meta, a stopped answer, or the refusal.
function finish(outcome, { text, alias, asked, turn }) {
  if (outcome.stopped) {
    turn.item.classList.add("stopped");
    turn.item.append(el("p", { className: "pg-facts" }, badge("warn", "Stopped"),
      " The answer was cut off here; the gateway closed the vendor's call."));
    const partial = turn.words.data;
    history.push({ role: "user", content: text });
    if (partial) history.push({ role: "assistant", content: partial });
    $("pg-status").textContent = "Stopped.";
    return;
  }
  if (outcome.streamed && !outcome.error) {
    history.push({ role: "user", content: text }, { role: "assistant", content: turn.words.data });
    if (outcome.meta) turn.item.append(metaBox(outcome.meta));
    $("pg-status").textContent = answeredText(alias, outcome.meta);
    return;
  }
  if (outcome.streamed) {
    failed(turn, outcome.error.message || "The answer broke off.", outcome.meta, text);
    return;
  }
  const data = outcome.data || {};
  if (outcome.ok && data.answer) {
    turn.words.data = contentOf(data.answer);
    history.push({ role: "user", content: text }, { role: "assistant", content: turn.words.data });
    if (data.meta) turn.item.append(metaBox(data.meta));
    $("pg-status").textContent = answeredText(alias, data.meta);
    return;
  }
  if (outcome.status === 401) return; // signed out
  const error = errorOf(outcome, "The request failed (HTTP " + outcome.status + ").");
  if (data.meta) {
    // The gateway tried: the route shows what each call did.
    failed(turn, error.message, data.meta, text);
    return;
  }
  // Refused before anything was sent: the turns go, the message comes back to the box.
  asked.item.remove();
  turn.item.remove();
  $("pg-empty").hidden = $("pg-transcript").children.length > 0;
  $("pg-status").textContent = "Not sent: " + error.message;
  outcome.refused = true;
  if (!refusedField(error, text)) {
    if (!$("pg-message").value) $("pg-message").value = text;
    showError("pg-errors", error, "The message", "pg-message");
  }
}

function failed(turn, message, meta, text) {
  turn.item.classList.add("failed");
  turn.item.append(el("p", { className: "pg-facts bad-text" }, badge("bad", "Failed"), " " + message));
  if (meta) turn.item.append(metaBox(meta));
  // Not part of the conversation: the message is back in the box to send again.
  if (!$("pg-message").value) $("pg-message").value = text;
  $("pg-status").textContent = "The request failed: " + message;
}

function answeredText(alias, meta) {
  if (!meta) return "Answered.";
  const by = meta.target ? "by " + meta.target : meta.cache === "hit" ? "from the cache" : "";
  return "Answered " + by + " in " + Math.round(meta.latency_ms) + " ms (" + alias + ").";
}
