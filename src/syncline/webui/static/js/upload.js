// Uploads from the browser through the server's WebDAV: a small file in one PUT, a big one in 8 MiB
// chunks (ownCloud/Nextcloud "chunking NG") that survive a cut connection or a reload: the upload's id is
// kept in localStorage under the file's folder, path, size and date, the server lists the chunks it holds,
// and only the missing ones are sent. Nothing appears in the folder before the last step (MOVE .file),
// which commits the file as any write: rights, locks, quota, and the replaced version kept.
import {ApiError, davMessage, writeHeaders} from "./api.js";
import {davUrl} from "./folder.js";

export const SLICE = 8 * 1024 * 1024;
const AT_ONCE = 2;
const KEY = "syncline-upload:";

/** A request with upload progress (fetch has none): resolves {status, text}; rejects on a network error
 * or an abort. ``onSent(bytes)`` is called as the body goes out. */
function send(method, url, {body, headers, onSent, signal}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [name, value] of Object.entries({...writeHeaders(), ...headers})) xhr.setRequestHeader(name, value);
    if (onSent) xhr.upload.addEventListener("progress", (event) => onSent(event.loaded));
    xhr.addEventListener("load", () => resolve({status: xhr.status, text: xhr.responseText}));
    xhr.addEventListener("error", () => reject(new ApiError(0, "unavailable", "the connection was cut",
                                                            "retry: what was sent is kept")));
    xhr.addEventListener("abort", () => reject(new DOMException("cancelled", "AbortError")));
    if (signal) {
      if (signal.aborted) { reject(new DOMException("cancelled", "AbortError")); return; }
      signal.addEventListener("abort", () => xhr.abort(), {once: true});
    }
    xhr.send(body === undefined ? null : body);
  });
}

function failure(answer, path) {
  const message = davMessage(answer.text);
  switch (answer.status) {
    case 401: return new ApiError(401, "unauthenticated", "your session has ended", "log in again");
    case 403: return new ApiError(403, "forbidden", message || "you may not write here", "ask the folder's owner");
    case 409: return new ApiError(409, "conflict", message || `the folder of ${path} is not there`, "look again");
    case 412: return new ApiError(412, "changed", `${path} changed on the server meanwhile`, "choose again");
    case 423: return new ApiError(423, "locked", message || `${path} is locked`, "wait for the lock to end");
    case 507: return new ApiError(507, "no_space", message || "there is not enough room", "free some space");
    default: return new ApiError(answer.status, `http_${answer.status}`, message || "the upload was refused",
                                 "try again");
  }
}

async function sha1(file) {
  const digest = await crypto.subtle.digest("SHA-1", await file.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function conditions(replacing) {
  return replacing ? {"If-Match": `"v${replacing.version}"`} : {"If-None-Match": "*"};
}

function mtime(file) { return String(file.lastModified / 1000); }

function storedId(key) {
  try { return localStorage.getItem(key); } catch { return null; }
}

function store(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch { /* private mode: no resume after a reload, the rest works */ }
}

function newId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return "web-" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The sizes of the chunks the server holds for ``base`` (a chunked upload), by name. */
async function held(base, signal) {
  const answer = await send("PROPFIND", base, {headers: {Depth: "1"}, signal});
  if (answer.status === 404) return null;
  if (answer.status !== 207) throw failure(answer, "the upload");
  const xml = new DOMParser().parseFromString(answer.text, "application/xml");
  const sizes = new Map();
  for (const response of xml.getElementsByTagNameNS("DAV:", "response")) {
    const href = response.getElementsByTagNameNS("DAV:", "href")[0].textContent;
    const length = response.getElementsByTagNameNS("DAV:", "getcontentlength")[0];
    const name = decodeURIComponent(href.replace(/\/$/, "").split("/").pop());
    if (length && /^\d+$/.test(name)) sizes.set(name, Number(length.textContent));
  }
  return sizes;
}

/**
 * Sends ``file`` to ``path`` in ``folder``. ``replacing``: the row the page showed there (the upload
 * replaces that version only), or null (only if nothing is there). ``onProgress(bytesSent)``. Resolves
 * when the file is committed; rejects with an ApiError (status 412: something else is there now).
 */
export async function upload({user, folder, path, file, replacing, onProgress, signal}) {
  const target = davUrl(user, folder, path);
  if (file.size < SLICE) {
    const headers = {"X-OC-Mtime": mtime(file), "OC-Checksum": `SHA1:${await sha1(file)}`,
                     "Content-Type": "application/octet-stream", ...conditions(replacing)};
    const answer = await send("PUT", target, {body: file, headers, onSent: onProgress, signal});
    if (answer.status >= 300) throw failure(answer, path);
    onProgress(file.size);
    return;
  }
  const key = `${KEY}${user}\n${folder}\n${path}\n${file.size}\n${file.lastModified}`;
  let id = storedId(key);
  let have = null;
  if (id) have = await held(`/remote.php/dav/uploads/${encodeURIComponent(user)}/${id}`, signal);
  if (have === null) {
    id = newId();
    const made = await send("MKCOL", `/remote.php/dav/uploads/${encodeURIComponent(user)}/${id}`, {signal});
    if (made.status !== 201) throw failure(made, path);
    store(key, id);
    have = new Map();
  }
  const base = `/remote.php/dav/uploads/${encodeURIComponent(user)}/${id}`;
  const slices = [];
  for (let offset = 0; offset < file.size; offset += SLICE) {
    const name = String(offset).padStart(15, "0");
    const length = Math.min(SLICE, file.size - offset);
    slices.push({name, offset, length, sent: have.get(name) === length ? length : 0});
  }
  const report = () => onProgress(slices.reduce((sum, s) => sum + s.sent, 0));
  report();
  const waiting = slices.filter((s) => s.sent < s.length);
  async function worker() {
    for (let next = waiting.shift(); next; next = waiting.shift()) {
      const part = next;
      const answer = await send("PUT", `${base}/${part.name}`, {
        body: file.slice(part.offset, part.offset + part.length), signal,
        headers: {"Content-Type": "application/octet-stream"},
        onSent: (n) => { part.sent = Math.min(n, part.length - 1); report(); }});
      if (answer.status >= 300) throw failure(answer, path);
      part.sent = part.length;
      report();
    }
  }
  await Promise.all(Array.from({length: AT_ONCE}, worker));
  const done = await send("MOVE", `${base}/.file`, {signal, headers: {
    Destination: target, "OC-Total-Length": String(file.size), "X-OC-Mtime": mtime(file), ...conditions(replacing)}});
  if (done.status >= 300) throw failure(done, path);
  store(key, null);
}

/** Drops an upload's chunks on the server (cancelled by the user). */
export async function forget({user, folder, path, file}) {
  const key = `${KEY}${user}\n${folder}\n${path}\n${file.size}\n${file.lastModified}`;
  const id = storedId(key);
  store(key, null);
  if (id) await send("DELETE", `/remote.php/dav/uploads/${encodeURIComponent(user)}/${id}`, {}).catch(() => null);
}

/** The files of a drop, folders walked: [{file, path}] with paths relative to the drop. */
export async function droppedFiles(items) {
  const out = [];
  async function walk(entry, prefix) {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      out.push({file, path: prefix + entry.name});
    } else if (entry.isDirectory) {
      out.push({dir: prefix + entry.name});
      const reader = entry.createReader();
      for (;;) {  // readEntries gives at most 100 at a time
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (!batch.length) break;
        for (const child of batch) await walk(child, `${prefix}${entry.name}/`);
      }
    }
  }
  const entries = [...items].map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null));
  for (const entry of entries) if (entry) await walk(entry, "");
  return out;
}
