// What the console last read from the gateway, shared by the pages, and the loads that fill it.

import { api, missingRoute } from "./api.js";

export const state = {
  config: null, // GET /admin/api/config
  overview: null, // GET /admin/api/overview, null where the gateway lacks it
  overviewMissing: false,
  role: "admin", // GET /admin/api/whoami; "viewer" hides every write control
  loadedAt: null, // Date of the last successful config load
};

// Loads the config view (and the overview's provider verdicts when there are any); returns the
// failed answer, or null when it worked.
export async function loadConfig() {
  const answer = await api("GET", "/admin/api/config");
  if (!answer.ok) return answer;
  state.config = answer.data;
  state.loadedAt = new Date();
  await loadOverview();
  return null;
}

export async function loadOverview() {
  if (state.overviewMissing) return null;
  const answer = await api("GET", "/admin/api/overview");
  if (answer.ok) state.overview = answer.data;
  else if (missingRoute(answer)) state.overviewMissing = true;
  return answer;
}

export async function loadRole() {
  const answer = await api("GET", "/admin/api/whoami");
  state.role = answer.ok && answer.data && answer.data.role === "viewer" ? "viewer" : "admin";
  document.body.classList.toggle("read-only", state.role === "viewer");
  for (const control of document.querySelectorAll("[data-write]")) control.hidden = state.role === "viewer";
}

export function overviewProvider(id) {
  const providers = (state.overview && state.overview.providers) || [];
  return providers.find((entry) => entry.id === id);
}

export function canWrite() { return state.role !== "viewer"; }
