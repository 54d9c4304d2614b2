// What the file views share: a folder's listing, its write operations, and WebDAV addresses. Every
// write is a conditional operation on what the page showed (``expect`` / ``If-Match``), so a file a
// device changed after the page listed it is never overwritten, moved or deleted by a stale page.
import {ApiError, folderUrl, getJSON, query, request, sendJSON} from "./api.js";

export const PAGE = 500;

/** The rows of an ``entries`` answer as objects. */
export function rowsOf(page) {
  return page.rows.map((row) => Object.fromEntries(page.columns.map((name, i) => [name, row[i]])));
}

export function nameOf(path) { return path.slice(path.lastIndexOf("/") + 1); }
export function parentOf(path) { return path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ""; }
export function join(dir, name) { return dir ? `${dir}/${name}` : name; }

/** The children of ``dir``, a page at a time: ``cursor`` is the last page's answer (null: the first). */
export function listPage(folder, dir, cursor, signal) {
  const params = cursor ? {since: cursor.next, after: cursor.next_path} : {since: 0};
  return getJSON(folderUrl(folder, "/entries" + query({...params, dir, deep: 0, limit: PAGE})), signal);
}

/** What a write expects at a row's path: the row as the page showed it. */
export function expectOf(row) {
  return {kind: row.kind, size: row.size, mtime_ns: row.mtime_ns, target: row.target, file_id: row.file_id,
          version: row.version};
}

/** A new operation id: 16 random bytes, base64url. */
export function opId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Now, in nanoseconds since the epoch. */
export function nowNs() { return BigInt(Date.now()) * 1000000n; }

/**
 * Applies one operation (``{op, path, expect, ...}``) with the server's write policy of a person at a
 * screen: what changed since the page looked is left alone (``keep_changed``), what is replaced or
 * deleted is kept as a version. Refusals become ApiErrors.
 */
export async function applyOp(folder, item) {
  const answer = await sendJSON("POST", folderUrl(folder, "/ops"),
                                {policy: {trash: true, keep_changed: true}, items: [{id: opId(), ...item}]});
  const result = answer.results[0];
  if (result.error) {
    const e = result.error;
    throw new ApiError(e.code === "forbidden" || e.code === "read_only" ? 403 : 409, e.code, e.message, e.hint);
  }
  if (!result.done) {
    throw new ApiError(409, result.code || "changed", `${nameOf(item.path)} changed since this page listed it`,
                       "nothing was done: look at the list again and retry");
  }
  return result;
}

/** The WebDAV address of ``path`` in the user's ``folder``. */
export function davUrl(user, folder, path) {
  const parts = [user, folder, ...(path ? path.split("/") : [])];
  return "/remote.php/dav/files/" + parts.map(encodeURIComponent).join("/");
}

const PROPFIND_ETAG = '<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/>'
  + "</d:prop></d:propfind>";

/** The WebDAV ETag of a folder: it changes whenever anything below it changes. */
export async function folderEtag(user, folder, path) {
  const response = await request("PROPFIND", davUrl(user, folder, path),
                                 {headers: {Depth: "0", "Content-Type": "application/xml; charset=utf-8"},
                                  body: PROPFIND_ETAG});
  const xml = new DOMParser().parseFromString(await response.text(), "application/xml");
  const tag = xml.getElementsByTagNameNS("DAV:", "getetag")[0];
  if (!tag || !tag.textContent) throw new ApiError(502, "bad_response", "the server gave no ETag", "try again");
  return tag.textContent;
}

/** Deletes a folder and everything in it, only if nothing below it changed since ``etag`` was read. */
export async function deleteFolder(user, folder, path, etag) {
  try {
    await request("DELETE", davUrl(user, folder, path), {headers: {"If-Match": etag}});
  } catch (err) {
    if (err instanceof ApiError && err.status === 412) {
      throw new ApiError(412, "changed", `something in ${nameOf(path)} changed since you looked`,
                         "nothing was deleted: look at the folder again");
    }
    if (err instanceof ApiError && err.status === 423) {
      throw new ApiError(423, "locked", `a file in ${nameOf(path)} is locked`, "nothing was deleted: ask the holder");
    }
    throw err;
  }
}

/** The download address of a file (``version`` or ``trash_id`` for a kept version). */
export function fileUrl(folder, path, extra = {}) {
  return "/ui/folders/" + encodeURIComponent(folder) + "/file" + query({path, ...extra});
}

/** Checks a name a person typed for a file or folder: "" when fine, else what is wrong. */
export function nameProblem(name) {
  if (!name) return "Enter a name.";
  if (name.includes("/")) return "A name cannot contain “/”.";
  if (name === "." || name === "..") return "That name is reserved.";
  if (/[\u0000-\u001f]/.test(name)) return "A name cannot contain control characters.";
  if (new TextEncoder().encode(name).length > 255) return "That name is too long (at most 255 bytes).";
  return "";
}
