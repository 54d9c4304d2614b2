// The conflicts of the device's folders (GET /api/conflicts): each conflict copy beside the file that kept
// the name, both openable, their text diff or pictures side by side, and three ways to settle it (POST
// /api/conflicts/resolve with both files as shown: the daemon refuses what changed since).
import {ApiError, getJSON, sendJSON} from "../api.js";
import {bytes, fill, h, toast, when} from "../dom.js";

const PICTURE = /\.(jpe?g|png|gif|webp)$/i;
const DIFFS = 20;  // diffs read per listing at most: each reads both files

function fileUrl(folder, path, inline) {
  const q = new URLSearchParams({folder, path});
  if (inline) q.set("inline", "1");
  return "/api/file?" + q.toString();
}

function base(path) { return path.split("/").pop(); }

/** One version: its name, size, time, who made it; a picture; a link that opens it. */
function version(folder, c, which) {
  const copy = which === "copy";
  const path = copy ? c.path : c.original_path;
  const file = copy ? c.copy : c.original;
  const title = copy ? "Conflict copy" : "Current file";
  const what = copy ? `the conflict copy of ${base(c.original_path)}` : `the current ${base(path)}`;
  if (!file) {
    const kind = {folder: "a folder", symlink: "a symbolic link"}[c.original_kind] || "nothing";
    return h("div", {class: "version"}, h("h4", {}, title),
      h("p", {class: "note"}, `Where ${base(path)} was there is ${kind} now (deleted or replaced since).`));
  }
  return h("div", {class: "version"},
    h("h4", {}, title),
    h("p", {class: "hint"}, copy
      ? `The other version, kept under its own name when both changed (made by ${c.device}).`
      : "The version that kept the name."),
    h("dl", {},
      h("dt", {}, "Name"), h("dd", {}, h("code", {}, base(path))),
      h("dt", {}, "Size"), h("dd", {}, bytes(file.size)),
      h("dt", {}, "Changed"), h("dd", {}, when(file.mtime_ns)),
      copy ? [h("dt", {}, "Device"), h("dd", {}, c.device)] : null),
    PICTURE.test(path) ? h("img", {src: fileUrl(folder, path, true), alt: `Picture: ${what}`, loading: "lazy"}) : null,
    h("a", {class: "button", href: fileUrl(folder, path, false), download: base(path),
            "aria-label": `Open ${what}`}, "Open"));
}

let boxes = 0;
function diffBox(lines) {
  if (!lines) return null;
  boxes += 1;
  const id = `diff-${boxes}`;
  return h("figure", {class: "diff"},
    h("figcaption", {id}, "What differs (", h("span", {class: "del"}, "−"), " current, ",
      h("span", {class: "add"}, "+"), " conflict copy)"),
    // A box of its own that scrolls: long lines never widen the page; by keyboard too (tabindex).
    h("pre", {tabindex: "0", "aria-labelledby": id},
      lines.slice(2).map((line) => h("span", {class: line[0] === "+" ? "add" : line[0] === "-" ? "del"
                                                     : line[0] === "@" ? "hunk" : null}, line + "\n"))));
}

/** The section: ``el``; ``place(main)`` puts it on the page after a redraw; ``changed()`` re-lists soon. */
export function conflictsSection() {
  const el = h("section", {class: "conflicts", "aria-labelledby": "conflicts-h"});
  const diffs = new Map();  // "digest digest" -> lines or null
  let listing = null;
  let busy = "";
  let loading = null;
  let again = false;
  let timer = 0;

  async function load() {
    if (loading) { again = true; return loading; }
    loading = (async () => {
      do {
        again = false;
        try {
          listing = await getJSON("/api/conflicts");
          await readDiffs();
        } catch (err) {
          if (err instanceof ApiError && err.status === 401) return;  // the status says it already
          toast(err instanceof ApiError ? err.text : String(err));
        }
        draw();
      } while (again);
    })();
    try { await loading; } finally { loading = null; }
  }

  async function readDiffs() {
    const todo = [];
    for (const folder of listing.folders) {
      for (const c of folder.conflicts) {
        const key = c.copy.digest + " " + (c.original ? c.original.digest : "");
        if (c.original && !PICTURE.test(c.path) && !diffs.has(key) && todo.length < DIFFS) todo.push([folder, c, key]);
      }
    }
    await Promise.all(todo.map(async ([folder, c, key]) => {
      const q = new URLSearchParams({folder: folder.local, path: c.path});
      try {
        diffs.set(key, (await getJSON("/api/conflicts/diff?" + q.toString())).diff);
      } catch {
        diffs.set(key, null);  // gone meanwhile: the next listing says so
      }
    }));
  }

  async function settle(folder, c, choice, done) {
    if (busy) return;
    busy = c.path;
    draw();
    try {
      const got = await sendJSON("POST", "/api/conflicts/resolve",
                                 {folder: folder.local, path: c.path, choice, seen: {copy: c.copy, original: c.original}});
      toast(done + (got.trashed ? ` The other version is in the folder's trash: ${got.trashed}` : ""));
    } catch (err) {
      if (err instanceof ApiError && err.code === "changed") {
        toast(`Not done: ${err.message}. The conflicts are shown again as they are now.`);
      } else {
        toast(err instanceof ApiError ? err.text : String(err));
      }
    } finally {
      busy = "";
      await load();
    }
  }

  function card(folder, c) {
    const name = base(c.original_path);
    const doing = busy === c.path;
    const key = (choice) => ({dataset: {key: `conflict:${choice}:${folder.local}/${c.path}`}});
    const button = (choice, label, aria, done) => h("button", {
      type: "button", ...key(choice), "aria-label": aria, "aria-disabled": busy ? "true" : null,
      onclick: () => settle(folder, c, choice, done)}, doing ? "Working…" : label);
    const replaceable = c.original || !c.original_kind;
    const diff = c.original ? diffs.get(c.copy.digest + " " + c.original.digest) : null;
    return h("li", {class: "card conflict"},
      h("h4", {class: "title"}, h("code", {}, c.original_path)),
      h("div", {class: "versions"}, version(folder.local, c, "original"), version(folder.local, c, "copy")),
      diffBox(diff),
      h("div", {class: "actions"},
        c.original ? button("keep_original", "Keep the current file",
          `Keep the current ${name}; the conflict copy goes to the trash`, `Kept the current ${name}.`) : null,
        replaceable ? button("keep_copy", "Keep the conflict copy",
          `Keep the conflict copy as ${name}; the current file goes to the trash`,
          `The conflict copy is now ${name}.`) : null,
        button("keep_both", "Keep both", `Keep both: the conflict copy gets a name of its own beside ${name}`,
          `Kept both: the conflict copy has a name of its own beside ${name}.`)));
  }

  function draw() {
    const lost = el.contains(document.activeElement) || document.activeElement === document.body;
    const focused = lost && document.activeElement.dataset ? document.activeElement.dataset.key : "";
    const folders = listing ? listing.folders : [];
    const count = folders.reduce((n, f) => n + f.conflicts.length, 0);
    fill(el, h("h2", {id: "conflicts-h", tabindex: "-1"}, count ? `Conflicts (${count}${listing.more ? "+" : ""})` : "Conflicts"),
      !listing ? h("p", {class: "note"}, "Looking for conflicts…")
        : !count && !folders.some((f) => f.error) ? h("p", {class: "note"}, "No conflicts: every file has one version.")
        : null,
      count ? h("p", {class: "hint"}, "A file changed on two devices before they synced: the newer version kept the ",
        "name, the other was kept as a conflict copy beside it. Choose what stays; the version you do not keep goes to ",
        "the folder's trash (", h("code", {}, ".syncline/trash"), "), and the other devices follow.") : null,
      folders.map((f) => (f.conflicts.length || f.error ? h("section", {class: "conflict-folder",
                                                                         "aria-label": `Conflicts in ${f.local}`},
        h("h3", {}, h("code", {}, f.local)),
        f.error ? h("p", {class: "error"}, f.error) : null,
        h("ul", {class: "conflict-list"}, f.conflicts.map((c) => card(f, c))),
        f.more ? h("p", {class: "note"}, "More conflicts than shown: settle these to see the rest.") : null) : null)));
    if (focused) {
      // The conflict just settled is gone: the keyboard goes on from the section's heading.
      const again = el.querySelector(`[data-key="${CSS.escape(focused)}"]`) || el.querySelector("h2");
      again.focus();
    }
  }

  draw();
  return {
    el,
    place(main) {
      const folders = main.querySelector(".folders");
      if (folders) folders.after(el); else main.append(el);
      if (!listing && !loading) load();
    },
    changed() {
      if (timer) return;  // one listing for a burst of events
      timer = setTimeout(() => { timer = 0; load(); }, 1000);
    },
  };
}
