// The sluicegate console: sign-in, hash routes (#/providers, ...), and redrawing the page shown
// after every change and, for live numbers, on a timer.

import * as addModel from "./add_model.js";
import { clearToken, onUnauthorized, setToken, token } from "./api.js";
import { onChanged } from "./changes.js";
import * as configPage from "./config_page.js";
import { $, focusKey, restoreFocus } from "./dom.js";
import * as health from "./health.js";
import * as keys from "./keys.js";
import * as logs from "./logs.js";
import * as models from "./models.js";
import * as overview from "./overview.js";
import * as playground from "./playground.js";
import * as providers from "./providers.js";
import { loadConfig, loadRole, state } from "./state.js";
import * as usage from "./usage.js";

// live: the numbers on it change by themselves, so it is redrawn every REFRESH_MS.
const PAGES = {
  overview: { title: "Overview", load: overview.load, render: overview.render, live: true },
  providers: { title: "Providers", load: providers.loadSchema, render: providers.render, live: true },
  models: { title: "Models", render: models.render },
  keys: { title: "Keys and teams", load: keys.load, render: keys.renderPage, live: true },
  usage: { title: "Usage", load: usage.load, render: usage.render, live: true },
  logs: { title: "Logs", load: logs.load, render: logs.render },
  playground: { title: "Playground", render: playground.render },
  health: { title: "Health", load: health.load, render: health.render, live: health.autoRefresh },
  config: { title: "Config", render: configPage.render },
};
const DEFAULT_PAGE = "overview";
const REFRESH_MS = 15000;

let current = null;
let timer = null;

function routeName() {
  const name = location.hash.replace(/^#\/?/, "");
  return Object.hasOwn(PAGES, name) ? name : DEFAULT_PAGE;
}

function renderShared() {
  const config = state.config;
  if (!config) return;
  $("where").textContent = config.editable ? "Config file: " + config.path : "In-memory config (read only)";
  $("file-problem").hidden = !config.file_problem;
  $("file-problem-message").textContent = config.file_problem || "";
}

// Reads what the page shows and draws it, keeping focus on the control that had it.
async function redraw() {
  const page = PAGES[current];
  const failed = await loadConfig();
  const loadError = $("load-error");
  if (failed) {
    if (!token()) return; // signed out by a 401
    const error = (failed.data && failed.data.error && failed.data.error.message) || "The config could not be loaded.";
    loadError.textContent = error;
    loadError.hidden = false;
    return;
  }
  loadError.hidden = true;
  if (page.load) await page.load();
  const key = focusKey();
  renderShared();
  page.render();
  if (key && (document.activeElement === document.body || !document.activeElement.isConnected)) restoreFocus(key);
}

async function show(name, { focus }) {
  current = name;
  const page = PAGES[name];
  for (const section of document.querySelectorAll(".page")) section.hidden = section.id !== "page-" + name;
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.getAttribute("href") === "#/" + name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = page.title + " · sluicegate console";
  if (focus) $(name + "-title").focus();
  await redraw();
}

function startTimer() {
  stopTimer();
  timer = window.setInterval(() => {
    const dialogOpen = document.querySelector("dialog[open]") !== null;
    const live = current && PAGES[current].live;
    const on = typeof live === "function" ? live() : live;
    if (on && !dialogOpen && document.visibilityState === "visible") redraw();
  }, REFRESH_MS);
}

function stopTimer() {
  if (timer !== null) window.clearInterval(timer);
  timer = null;
}

// -- sign in ---------------------------------------------------------------------------------

function signOut(message) {
  stopTimer();
  clearToken();
  state.config = null;
  $("app").hidden = true;
  $("nav").hidden = true;
  $("account").hidden = true;
  $("signin").hidden = false;
  $("signin-message").textContent = message || "";
  $("admin-token").focus();
}

async function signIn(value) {
  setToken(value);
  const failed = await loadConfig();
  if (failed) {
    if (token()) signOut((failed.data && failed.data.error && failed.data.error.message) || "Sign-in failed.");
    return;
  }
  await loadRole();
  $("role").textContent = state.role === "viewer" ? "Viewer (read only)" : "Admin";
  $("signin").hidden = true;
  $("app").hidden = false;
  $("nav").hidden = false;
  $("account").hidden = false;
  $("signin-message").textContent = "";
  await show(routeName(), { focus: true });
  startTimer();
}

function wire() {
  onUnauthorized(signOut);
  onChanged(redraw);
  providers.init();
  models.init();
  configPage.init(redraw);
  addModel.init(redraw);
  keys.init();
  usage.init();
  logs.init();
  health.init(redraw);
  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = $("admin-token").value;
    $("admin-token").value = "";
    await signIn(value);
  });
  $("signout").addEventListener("click", () => signOut("Signed out."));
  window.addEventListener("hashchange", () => {
    if (token() && !$("app").hidden) show(routeName(), { focus: true });
  });
  // The skip link moves focus without touching the hash (the hash is the page's address).
  document.querySelector(".skip").addEventListener("click", (event) => {
    event.preventDefault();
    const heading = current && !$("app").hidden ? $(current + "-title") : $("signin-title");
    heading.tabIndex = -1;
    heading.focus();
  });
  // The link of the page already shown changes no hash: it still moves focus and redraws.
  $("nav").addEventListener("click", (event) => {
    const link = event.target.closest("a");
    if (link && link.getAttribute("href") === location.hash) {
      event.preventDefault();
      show(routeName(), { focus: true });
    }
  });
  if (token()) signIn(token());
  else $("admin-token").focus();
}

wire();
