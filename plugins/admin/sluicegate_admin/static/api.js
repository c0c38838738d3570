// Calls to /admin/api with the token this tab holds (sessionStorage, sent as a header: no cookies,
// so no CSRF). Every answer is {ok, status, data}; failures carry the API's error shape.

const TOKEN_KEY = "sluicegate.admin.token";
const listeners = { unauthorized: () => {} };

export function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
export function setToken(value) { sessionStorage.setItem(TOKEN_KEY, value); }
export function clearToken() { sessionStorage.removeItem(TOKEN_KEY); }

// Called when the gateway refuses the token (401): the session is over.
export function onUnauthorized(callback) { listeners.unauthorized = callback; }

function failure(message) {
  return { ok: false, status: 0, data: { error: { message, param: null, code: null } } };
}

export async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + token() };
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    return failure("The gateway cannot be reached: " + err.message);
  }
  let data = null;
  try { data = await response.json(); } catch (err) { data = null; }
  if (response.status === 401) listeners.unauthorized("The admin token was not accepted.");
  return { ok: response.ok, status: response.status, data };
}

// The error of a failed answer: {message, param, code, problems}.
export function errorOf(answer, fallback) {
  const data = answer.data || {};
  const error = data.error || {};
  return {
    message: error.message || fallback || "The request failed (HTTP " + answer.status + ").",
    param: error.param || null,
    code: error.code || null,
    problems: Array.isArray(data.problems) ? data.problems : [],
  };
}

// An endpoint this gateway does not have yet (an older admin plugin): 404 for the route itself.
export function missingRoute(answer) {
  return answer.status === 404 && errorOf(answer).code === "not_found";
}
