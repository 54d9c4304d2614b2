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

/** The headers every call that changes something carries (for requests made without fetch). */
export function writeHeaders() {
  return {"X-Syncline-CSRF": csrf, "X-Requested-With": "XMLHttpRequest"};
}

/** The message of a WebDAV error body (Sabre's <s:message>), or "". */
export function davMessage(text) {
  try {
    const xml = new DOMParser().parseFromString(text, "application/xml");
    const found = xml.getElementsByTagNameNS("http://sabredav.org/ns", "message")[0];
    return found ? found.textContent : "";
  } catch {
    return "";
  }
}

/**
 * fetch() for our API: ``json`` is sent as a JSON body; an answer that is not 2xx becomes an ApiError
 * with the server's code, message and hint; a network failure an ApiError of status 0.
 */
export async function request(method, url, {json, body, headers, signal} = {}) {
  const sent = new Headers(headers || {});
  if (json !== undefined) {
    sent.set("Content-Type", "application/json");
    body = stringifyJSON(json);
  }
  if (method !== "GET" && method !== "HEAD" && csrf) sent.set("X-Syncline-CSRF", csrf);
  // A page's request: a refusal must not make the browser ask for a WebDAV password itself.
  sent.set("X-Requested-With", "XMLHttpRequest");
  let response;
  try {
    response = await fetch(url, {method, body, headers: sent, credentials: "same-origin", cache: "no-store",
                                 signal, redirect: "error"});
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(0, "unavailable", "the server cannot be reached", "check the connection and try again");
  }
  if (response.ok) return response;
  const text = await response.text();
  let error = null;
  try { error = JSON.parse(text).error; } catch { error = {message: davMessage(text)}; }
  throw new ApiError(response.status, (error && error.code) || `http_${response.status}`,
                     (error && error.message) || response.statusText || "the server refused",
                     error && error.hint);
}

// Nanosecond times (1.7e18) do not fit a JavaScript number: parsed as one they would round, and an
// ``expect`` sent back with a rounded mtime would never match. So integers past 2^53 are read as BigInt
// and written back as the same digits.
const BIG = "\u0000big:";
const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

function markBigIntegers(text) {
  let out = "";
  let last = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (c === '"') {  // skip the string, escapes included
      for (i += 1; i < text.length && text[i] !== '"'; i += 1) if (text[i] === "\\") i += 1;
    } else if (c === "-" || (c >= "0" && c <= "9")) {
      NUMBER.lastIndex = i;
      const token = NUMBER.exec(text)[0];
      if (/^-?\d+$/.test(token) && !Number.isSafeInteger(Number(token))) {
        out += text.slice(last, i) + JSON.stringify(BIG + token);
        last = i + token.length;
      }
      i += token.length - 1;
    }
  }
  return out + text.slice(last);
}

/** JSON.parse, with integers past 2^53 as BigInt. */
export function parseJSON(text) {
  return JSON.parse(markBigIntegers(text),
                    (_key, value) => (typeof value === "string" && value.startsWith(BIG)
                      ? BigInt(value.slice(BIG.length)) : value));
}

/** JSON.stringify, with BigInt written as its digits. */
export function stringifyJSON(value) {
  const text = JSON.stringify(value, (_key, v) => (typeof v === "bigint" ? BIG + v.toString() : v));
  return text.replace(/"\\u0000big:(-?\d+)"/g, "$1");
}

/** GET ``url`` and its JSON. */
export async function getJSON(url, signal) {
  return parseJSON(await (await request("GET", url, {signal})).text());
}

/** ``method`` ``url`` with a JSON body; the answer's JSON (null for 204). */
export async function sendJSON(method, url, json) {
  const response = await request(method, url, {json});
  return response.status === 204 ? null : parseJSON(await response.text());
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
