// The server's API as the page uses it: the session's cookie authenticates every call (the page never
// sees the token); every call that changes something carries the CSRF header the session gave us.

export class ApiError extends Error {
  constructor(status, code, message, hint) {
    super(message);
    this.status = status;
    this.code = code;
    this.hint = hint || "";
  }

  /** The message and what to do, as one line for a person. */
  get text() { return this.hint ? `${this.message}: ${this.hint}` : this.message; }
}

let csrf = "";

/** Remembers the CSRF value of the session (from /ui/session or /ui/login). */
export function setCsrf(value) { csrf = value || ""; }

/**
 * fetch() for our API: ``json`` is sent as a JSON body; an answer that is not 2xx becomes an ApiError
 * with the server's code, message and hint; a network failure an ApiError of status 0.
 */
export async function request(method, url, {json, body, headers, signal} = {}) {
  const sent = new Headers(headers || {});
  if (json !== undefined) {
    sent.set("Content-Type", "application/json");
    body = JSON.stringify(json);
  }
  if (method !== "GET" && method !== "HEAD" && csrf) sent.set("X-Syncline-CSRF", csrf);
  let response;
  try {
    response = await fetch(url, {method, body, headers: sent, credentials: "same-origin", cache: "no-store",
                                 signal, redirect: "error"});
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(0, "unavailable", "the server cannot be reached", "check the connection and try again");
  }
  if (response.ok) return response;
  let error = null;
  try { error = (await response.json()).error; } catch { error = null; }
  throw new ApiError(response.status, (error && error.code) || `http_${response.status}`,
                     (error && error.message) || response.statusText || "the server refused",
                     error && error.hint);
}

/** GET ``url`` and its JSON. */
export async function getJSON(url, signal) {
  return (await request("GET", url, {signal})).json();
}

/** ``method`` ``url`` with a JSON body; the answer's JSON (null for 204). */
export async function sendJSON(method, url, json) {
  const response = await request(method, url, {json});
  return response.status === 204 ? null : response.json();
}

/** The URL of a folder's endpoint: folder("Docs", "/entries") -> "/v1/folders/Docs/entries". */
export function folderUrl(name, rest = "") {
  return "/v1/folders/" + encodeURIComponent(name) + rest;
}

/** A query string from an object, skipping undefined values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) q.set(k, String(v));
  const s = q.toString();
  return s ? "?" + s : "";
}
