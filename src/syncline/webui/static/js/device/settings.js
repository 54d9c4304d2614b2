// The device page's settings: the daemon's config file as a form. Reads GET /api/config (its base_sha);
// a save sends only the keys a person changed, as edits against that version (PUT /api/config): the
// daemon keeps the file's comments and order, and refuses (409) when the file changed meanwhile, so a
// hand edit is never overwritten. After a save the page waits for the daemon's config-loaded or
// config-refused event of the version it saved (its sha is the save's base_sha; app.js hands every event
// on as a "daemon-event" on window).
import {ApiError, getJSON, sendJSON} from "../api.js";
import {confirmDialog} from "../dialogs.js";
import {announce, fill, h, toast} from "../dom.js";
import {connectCard} from "./connect.js";
import {pickFolder} from "./picker.js";

const APPLY_WAIT_MS = 15000;  // the daemon reads the file every 2 s: long past that, say it is not confirmed

const S = {config: null, status: null, root: null, waiting: null, form: null};

// The keys outside the folders, as the form shows them: [table, key, label, kind, hint].
const GENERAL = [
  ["defaults", "exclude", "Ignore patterns (every folder)", "list", "One pattern a line, e.g. *.tmp or .cache/"],
  ["defaults", "check_every", "Check every", "text", "How often each folder is compared in full, e.g. 1h, 30m, 90s"],
  ["defaults", "max_delete", "Most files deleted in one run", "text", "A count or a percentage, e.g. 50%; more stops and asks"],
  ["defaults", "max_upload_rate", "Upload limit", "text", "e.g. 2MB/s; empty: no limit"],
  ["defaults", "max_download_rate", "Download limit", "text", "e.g. 5MB/s; empty: no limit"],
  ["", "lock_makes_readonly", "Make a file locked by someone else read-only here", "flag", null],
  ["shares", "accept", "Folders shared with you", "accept", null],
  ["shares", "dir", "Where shared folders go", "text", "An absolute folder, e.g. ~/Shared"],
];

function errText(err) { return err instanceof ApiError ? err.text : String(err); }

function valueOf(doc, table, key) {
  const t = table ? doc[table] : doc;
  return t && typeof t === "object" ? t[key] : undefined;
}

/** The form's text for a TOML value (a list one item a line). */
function shown(value, kind) {
  if (value === undefined || value === null) return kind === "flag" ? false : "";
  if (kind === "list") return Array.isArray(value) ? value.join("\n") : String(value);
  if (kind === "flag") return value === true;
  return String(value);
}

// The keys that take a number as well as a string (seconds, a file count, KiB/s).
const NUMERIC = new Set(["check_every", "max_delete", "max_upload_rate", "max_download_rate"]);

/** The TOML value for the form's text: null (the key removed: its default) when empty; whole numbers
 * as numbers for the NUMERIC keys (the daemon reads "90" in check_every as seconds either way). */
function parsed(text, kind, key) {
  if (kind === "flag") return text;
  if (kind === "list") {
    const items = text.split("\n").map((s) => s.trim()).filter(Boolean);
    return items.length ? items : null;
  }
  const t = text.trim();
  if (!t) return null;
  return NUMERIC.has(key) && /^\d{1,15}$/.test(t) ? Number(t) : t;
}

let ids = 0;
function field(kind, label, value, hint, key) {
  ids += 1;
  const id = `set-${ids}`;
  const hintId = hint ? `${id}-hint` : null;
  let input;
  if (kind === "flag") {
    input = h("input", {id, type: "checkbox", checked: value, dataset: {key}});
    return h("div", {class: "check"}, input, h("label", {for: id}, label));
  }
  if (kind === "list") {
    input = h("textarea", {id, rows: 3, value, spellcheck: "false", autocapitalize: "none", dataset: {key},
                           "aria-describedby": hintId});
  } else if (kind === "accept") {
    input = h("select", {id, dataset: {key}},
      h("option", {value: "ask"}, "Ask me (syncline share accept)"),
      h("option", {value: "auto"}, "Accept them at once"));
    input.value = value || "ask";
  } else {
    input = h("input", {id, value, autocomplete: "off", spellcheck: "false", autocapitalize: "none",
                        dataset: {key}, "aria-describedby": hintId});
  }
  return h("div", {class: "field"}, h("label", {for: id}, label), input,
           hint ? h("p", {class: "hint", id: hintId}, hint) : null);
}

function controlValue(el) { return el.type === "checkbox" ? el.checked : el.value; }

function folderFields(folder, n) {
  const local = folder.local;
  const key = (k) => JSON.stringify(["folder", local, k]);
  const name = String(local).split("/").filter(Boolean).pop() || local;
  return h("fieldset", {class: "card folder-set", "aria-label": `Folder ${local}`},
    h("legend", {}, name),
    h("dl", {}, h("dt", {}, "Here"), h("dd", {}, h("code", {}, local)),
      h("dt", {}, "Synced with"), h("dd", {}, h("code", {}, String(folder.remote)))),
    field("flag", `Paused (nothing of ${name} is synced)`, folder.paused === true, null, key("paused")),
    field("list", `Ignore patterns of ${name}`, shown(folder.exclude, "list"), "One pattern a line", key("exclude")),
    h("div", {class: "actions"},
      h("button", {type: "button", class: "danger", "aria-label": `Remove the folder ${local}`,
                   dataset: {n: String(n)}, onclick: () => removeFolder(local)}, "Remove…")));
}

/** The edits that turn the loaded document into what the form shows: only the changed keys. */
function edits(form) {
  const doc = S.config.document;
  const out = [];
  for (const el of form.querySelectorAll("[data-key]")) {
    if (el.tagName === "BUTTON") continue;
    const [table, where, key] = JSON.parse(el.dataset.key);
    const kind = el.type === "checkbox" ? "flag" : el.tagName === "TEXTAREA" ? "list" : "text";
    if (table === "folder") {
      const folder = (doc.folder || []).find((f) => f.local === where);
      const before = shown(folder ? folder[key] : undefined, kind);
      const now = controlValue(el);
      if (now !== before) out.push({op: "set", folder: where, key, value: kind === "flag" ? (now || null) : parsed(now, kind, key)});
    } else {
      const before = shown(valueOf(doc, table, key), kind);
      const now = controlValue(el);
      if (now !== before && !(key === "accept" && before === "" && now === "ask")) {
        out.push({op: "set", table, key, value: kind === "flag" ? now : parsed(now, kind, key)});
      }
    }
  }
  return out;
}

function problemLine(root) { return root.querySelector("#settings-problem"); }

/** Says ``err`` next to the form: a 409 "changed" offers to load the file again. */
function refused(err) {
  const line = problemLine(S.root);
  if (err instanceof ApiError && err.status === 409 && err.code === "changed") {
    fill(line, h("strong", {}, "The file changed since you opened it"),
         " (edited by hand or by the command line): nothing was saved. ",
         h("button", {type: "button", onclick: () => load(true)}, "Reload the settings"));
  } else {
    fill(line, errText(err));
  }
  announce(line.textContent);
}

/** Sends ``list`` as one save on the version loaded; then waits for the daemon to apply it. */
async function save(list, what) {
  const line = problemLine(S.root);
  fill(line);
  if (!list.length) { setApplied("Nothing changed."); return false; }
  try {
    const done = await sendJSON("PUT", "/api/config", {base_sha: S.config.base_sha, edits: list});
    S.config.base_sha = done.base_sha;
    waitApplied(what, done.base_sha);
    return true;
  } catch (err) {
    refused(err);
    return false;
  }
}

function setApplied(text, bad) {
  const el = S.root.querySelector("#settings-applied");
  el.className = bad ? "error" : "note";
  el.textContent = text;
  announce(text);
}

// The daemon's verdicts on the versions of the file it read lately, by sha: its event may come before
// the answer to the save that wrote that version (the daemon rereads the file within 2 s).
const verdicts = new Map();

function waitApplied(what, sha) {
  clearTimeout(S.waiting && S.waiting.timer);
  setApplied(`${what}: saved; waiting for the daemon…`);
  // Past APPLY_WAIT_MS the page says so, and goes on waiting: a busy daemon's word still counts.
  S.waiting = {what, sha, timer: setTimeout(() => {
    setApplied(`${what}: saved, but the daemon has not said yet that it read the file. Is it running?`, true);
  }, APPLY_WAIT_MS)};
  if (verdicts.has(sha)) onDaemonEvent(verdicts.get(sha));
}

function onDaemonEvent(event) {
  if (event.kind !== "config-loaded" && event.kind !== "config-refused") return;
  verdicts.set(event.sha, event);
  if (verdicts.size > 16) verdicts.delete(verdicts.keys().next().value);
  if (!S.waiting || !S.root) return;
  if (event.sha !== S.waiting.sha) return;  // another version's (read before the save, or a hand edit)
  const {what, timer} = S.waiting;
  clearTimeout(timer);
  S.waiting = null;
  if (event.kind === "config-loaded") {
    load(false).then(() => setApplied(`${what}: applied.`));
  } else {
    load(false).then(() => setApplied(`${what}: the daemon did not use it: ${(event.details || {}).why || event.message}`, true));
  }
}

async function removeFolder(local) {
  const ok = await confirmDialog({title: "Remove this folder?", okLabel: "Remove", danger: true,
    text: `${local} stops syncing. Its files stay on this device and on the server.`});
  if (ok) await save([{op: "remove_folder", local}], `Removed ${local}`);
}

async function addFolder() {
  const picked = await pickFolder({connected: !!(S.status && S.status.server && S.status.server.connected)});
  if (!picked) return;
  await save([{op: "add_folder", local: picked.local, remote: picked.remote, settings: {}}],
             `Added ${picked.local}`);
}

function draw() {
  const c = S.config;
  const doc = c.document || {};
  const folders = Array.isArray(doc.folder) ? doc.folder : [];
  const form = h("form", {class: "settings", "aria-labelledby": "settings-h", novalidate: true,
    onsubmit: (e) => { e.preventDefault(); save(edits(e.target), "Settings"); }},
    h("h2", {}, "Folders"),
    folders.length ? folders.map(folderFields)
      : h("p", {class: "note"}, "No folders yet."),
    h("div", {class: "actions"}, h("button", {type: "button", onclick: addFolder}, "Add a folder…")),
    h("h2", {}, "Every folder"),
    h("div", {class: "card stack"},
      GENERAL.map(([table, key, label, kind, hint]) =>
        field(kind, label, shown(valueOf(doc, table, key), kind === "accept" ? "text" : kind), hint,
              JSON.stringify([table, null, key])))),
    h("div", {class: "actions"}, h("button", {type: "submit", class: "primary"}, "Save")));
  S.form = form;
  fill(S.root,
    h("h1", {id: "settings-h"}, "Settings"),
    connectCard(S.status && S.status.server, () => load(false)),
    c.problem ? h("div", {class: "card banner", role: "alert"},
      h("p", {}, h("strong", {}, "The config file has a problem the daemon refuses:")),
      h("p", {class: "error"}, c.problem)) : null,
    h("p", {id: "settings-problem", class: "error", role: "alert"}),
    h("p", {id: "settings-applied", class: "note", role: "status"}),
    form,
    h("p", {class: "hint"}, "Saved in ", h("code", {}, c.path), ": your comments and order there are kept."));
}

/** Reads the config and the status and draws the form; ``told``: say so when the read is done. */
async function load(told) {
  try {
    const [config, status] = await Promise.all([getJSON("/api/config"), getJSON("/api/status")]);
    S.config = config;
    S.status = status;
    const focused = document.activeElement && document.activeElement.dataset && document.activeElement.dataset.key;
    draw();
    if (focused) {
      const again = S.root.querySelector(`[data-key="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
    if (told) toast("Settings read again from the file.");
  } catch (err) {
    fill(S.root, h("h1", {id: "settings-h"}, "Settings"),
         h("p", {class: "error", role: "alert"}, errText(err)),
         h("div", {class: "actions"}, h("button", {type: "button", onclick: () => load(true)}, "Try again")));
  }
}

/** Adds the "Status" and "Settings" switch to the header and the settings' own <main>, hidden until
 * chosen. ``status``: the status view's <main>. */
export function mountSettings(status) {
  const root = h("main", {id: "settings", tabindex: "-1", hidden: true, "aria-labelledby": "settings-h"});
  status.after(root);
  S.root = root;
  const tabs = [["Status", status], ["Settings", root]];
  const buttons = tabs.map(([label, el]) => h("button", {type: "button", "aria-pressed": el === status ? "true" : "false",
    onclick: () => {
      for (const [, other] of tabs) other.hidden = other !== el;
      for (const b of buttons) b.setAttribute("aria-pressed", b.textContent === label ? "true" : "false");
      document.querySelector(".skip").setAttribute("href", "#" + el.id);
      if (el === root) load(false);
      el.focus();
    }}, label));
  const bar = document.querySelector(".bar");
  bar.insertBefore(h("nav", {id: "nav", "aria-label": "Views"}, buttons), bar.querySelector(".who"));
  window.addEventListener("daemon-event", (e) => onDaemonEvent(e.detail));
}
