// One folder of the server: its entries (folders first), the way back up, and what can be done to each
// entry. Reading needs the read right; the write controls are shown only with ``rw`` (the server
// refuses them anyway).
import {ApiError, folderUrl, getJSON, query, request, sendJSON} from "../api.js";
import {askText, choose, confirmDialog} from "../dialogs.js";
import {bytes, fill, h, place, toast, when} from "../dom.js";
import {
  applyOp, deleteFolder, expectOf, fileUrl, folderEtag, join, listPage, nameOf, nameProblem, nowNs, parentOf,
  rowsOf,
} from "../folder.js";
import {pickFolder} from "./picker.js";
import {UploadPanel, makeDirs} from "./uploads.js";
import {droppedFiles} from "../upload.js";
import {follow} from "../live.js";

/** ``#/f/FOLDER/dir/...`` */
export function filesHref(folder, dir) {
  return "#/f/" + [folder, ...(dir ? dir.split("/") : [])].map(encodeURIComponent).join("/");
}

// One collator for every comparison (localeCompare with options makes one per call).
const NAMES = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});

function byName(a, b) {
  if ((a.kind === "dir") !== (b.kind === "dir")) return a.kind === "dir" ? -1 : 1;
  return NAMES.compare(nameOf(a.path), nameOf(b.path));
}

function crumbs(folder, dir) {
  const parts = dir ? dir.split("/") : [];
  const links = [h("a", {href: "#/"}, "Folders"), h("a", {href: filesHref(folder, "")}, folder)];
  parts.forEach((part, i) => links.push(h("a", {href: filesHref(folder, parts.slice(0, i + 1).join("/"))}, part)));
  links[links.length - 1].setAttribute("aria-current", "page");
  return h("nav", {class: "crumbs", "aria-label": "Where you are"},
           h("ol", {}, links.map((link) => h("li", {}, link))));
}

function describe(row) {
  if (row.kind === "dir") return "Folder";
  if (row.kind === "symlink") return `Link to ${row.target}`;
  return `${bytes(row.size)} · ${when(row.mtime_ns)}`;
}

function lockText(lock) {
  return `Locked by ${lock.mine ? "you (this browser)" : `${lock.user} on ${lock.device_name}`} until `
    + when(lock.expires_ns);
}

const PICTURE = /\.(jpe?g|png|gif|webp)$/i;

/** A picture in a dialog, full width, closed by its button or Escape. */
function preview(folder, entry) {
  const name = nameOf(entry.path);
  const dialog = h("dialog", {class: "dialog preview", "aria-label": name},
                   h("img", {src: fileUrl(folder, entry.path, {inline: 1}), alt: name}),
                   h("div", {class: "actions"}, h("button", {type: "button", onclick: () => dialog.close()}, "Close")));
  const opener = document.activeElement;
  dialog.addEventListener("close", () => { dialog.remove(); if (opener && opener.isConnected) opener.focus(); });
  document.body.append(dialog);
  dialog.showModal();
}

const LOCK_TIMES = [{label: "Lock for 1 hour", value: "3600"}, {label: "Lock for a day", value: "86400"},
                    {label: "Lock for a week", value: "604800"}];

/** ``#/v/FOLDER/path`` (versions), ``#/trash/FOLDER``, ``#/share/FOLDER``. */
export function pathHref(route, folder, path) {
  return `#/${route}/` + [folder, ...(path ? path.split("/") : [])].map(encodeURIComponent).join("/");
}

function explain(err) { return err instanceof ApiError ? err.text : String(err); }

/** The view of ``rest`` = [folder, ...dir parts]. */
export async function filesView(main, rest, {signal, session, refresh, ended}) {
  const folder = rest[0];
  const dir = rest.slice(1).filter(Boolean).join("/");
  document.title = `${dir ? nameOf(dir) : folder} · syncline`;
  const info = await getJSON(folderUrl(folder), signal);
  const writable = info.rights === "rw";
  const shown = new Map();
  const locks = new Map();
  let cursor = null;

  const list = h("ul", {class: "list", "aria-label": "Files and folders"});
  const showMore = h("button", {type: "button", hidden: true}, "Show more");
  const empty = h("p", {class: "note", hidden: true}, "This folder is empty.");

  function row(entry) {
    const name = nameOf(entry.path);
    const link = entry.kind === "dir"
      ? h("a", {href: filesHref(folder, entry.path)}, name)
      : entry.kind === "file"
        ? h("a", {href: fileUrl(folder, entry.path), download: name}, name)
        : h("strong", {}, name);
    const lock = locks.get(entry.path);
    return h("li", {dataset: {path: entry.path}},
             h("span", {class: `icon icon-${entry.kind}`, "aria-hidden": "true"}),
             h("div", {class: "main"}, link, h("span", {class: "sub"}, describe(entry)),
               lock ? h("span", {class: "badge"}, lockText(lock)) : null),
             h("button", {type: "button", class: "more", "aria-label": `Actions for ${name}`,
                          onclick: () => act(entry)}, "⋯"));
  }

  // A row's element is made once per (entry, lock) and moved after that: "Show more" then costs its own
  // rows, not every row shown so far.
  const drawn = new Map();

  function rowOf(entry) {
    const lock = locks.get(entry.path);
    const had = drawn.get(entry.path);
    if (had && had.entry === entry && had.lock === lock) return had.node;
    const node = row(entry);
    drawn.set(entry.path, {entry, lock, node});
    return node;
  }

  function draw() {
    const rows = [...shown.values()].sort(byName);
    for (const path of drawn.keys()) if (!shown.has(path)) drawn.delete(path);
    place(list, rows.map(rowOf));
    list.hidden = rows.length === 0;
    empty.hidden = rows.length !== 0;
    showMore.hidden = !(cursor && cursor.more);
  }

  async function load() {
    const page = await listPage(folder, dir, cursor, signal);
    for (const entry of rowsOf(page)) {
      if (entry.path === dir) continue;
      if (entry.kind === "deleted") shown.delete(entry.path);
      else shown.set(entry.path, entry);
    }
    cursor = page;
    draw();
  }

  async function loadLocks() {
    const answer = await getJSON(folderUrl(folder, "/file-locks"), signal);
    locks.clear();
    for (const lock of answer.locks) locks.set(lock.path, lock);
    draw();
  }

  async function act(entry) {
    const name = nameOf(entry.path);
    const lock = locks.get(entry.path);
    const choices = [];
    if (entry.kind === "file") {
      if (PICTURE.test(name)) choices.push({label: "Preview", value: "preview"});
      choices.push({label: "Download", value: "download"}, {label: "Versions", value: "versions"});
    }
    if (writable && entry.kind === "file") {
      if (!lock) choices.push({label: "Lock", value: "lock"});
      else if (lock.user === session.user) choices.push({label: "Unlock", value: "unlock"});
      else if (info.owner === session.user) choices.push({label: "Break the lock", value: "break", class: "danger"});
    }
    if (writable) {
      choices.push({label: "Rename", value: "rename"}, {label: "Move", value: "move"},
                   {label: "Delete", value: "delete", class: "danger"});
    }
    const what = await choose({title: name, choices,
                               text: lock ? lockText(lock)
                                 : writable ? null : "This folder is shared with you read only."});
    try {
      if (what === "preview") preview(folder, entry);
      else if (what === "download") download(entry);
      else if (what === "versions") location.hash = pathHref("v", folder, entry.path);
      else if (what === "lock") await lockFile(entry);
      else if (what === "unlock" || what === "break") await unlock(lock, what === "break");
      else if (what === "rename") await rename(entry);
      else if (what === "move") await move(entry);
      else if (what === "delete") await remove(entry);
    } catch (err) {
      toast(explain(err));
      refresh();
    }
  }

  async function lockFile(entry) {
    const ttl = await choose({title: `Lock ${nameOf(entry.path)}`, choices: LOCK_TIMES,
                              text: "While it is locked, no other device can change, move or delete it. "
                                + "The lock ends when you unlock it, when its time is up, or when you log out."});
    if (ttl === null) return;
    await sendJSON("POST", folderUrl(folder, "/file-locks"), {path: entry.path, ttl: Number(ttl)});
    toast(`Locked ${nameOf(entry.path)}`);
    await loadLocks();
  }

  async function unlock(lock, force) {
    if (force && !await confirmDialog({title: `Break the lock on ${nameOf(lock.path)}?`, danger: true,
                                       okLabel: "Break the lock",
                                       text: `${lock.user} locked it on ${lock.device_name}.`})) {
      return;
    }
    await request("DELETE", folderUrl(folder, `/file-locks/${encodeURIComponent(lock.lock)}${force ? "?force=1" : ""}`));
    toast(`Unlocked ${nameOf(lock.path)}`);
    await loadLocks();
  }

  function download(entry) {
    h("a", {href: fileUrl(folder, entry.path), download: nameOf(entry.path)}).click();
  }

  async function rename(entry) {
    const name = nameOf(entry.path);
    const dot = name.lastIndexOf(".");
    const wanted = await askText({title: `Rename ${name}`, label: "New name", value: name, okLabel: "Rename",
                                  selectEnd: entry.kind === "file" && dot > 0 ? dot : name.length,
                                  check: (value) => nameProblem(value)
                                    || (value !== name && [...shown.keys()].some((p) => nameOf(p) === value)
                                      ? "Something here already has that name." : "")});
    if (wanted === null || wanted === name) return;
    await applyOp(folder, {op: "move", path: entry.path, to: join(dir, wanted), expect: expectOf(entry)});
    toast(`Renamed ${name} to ${wanted}`);
    refresh();
  }

  async function move(entry) {
    const target = await pickFolder({folder, start: dir, moving: entry});
    if (target === null || target === dir) return;
    await applyOp(folder, {op: "move", path: entry.path, to: join(target, nameOf(entry.path)),
                           expect: expectOf(entry)});
    toast(`Moved ${nameOf(entry.path)} to ${target ? nameOf(target) : folder}`);
    refresh();
  }

  async function remove(entry) {
    const name = nameOf(entry.path);
    if (entry.kind === "dir") {
      // The ETag read before asking: a file added below it after this makes the delete refuse.
      const etag = await folderEtag(session.user, folder, entry.path);
      if (!await confirmDialog({title: `Delete the folder ${name}?`, danger: true, okLabel: "Delete folder",
                                text: "It and everything in it go to the trash, where you can restore them."})) {
        return;
      }
      await deleteFolder(session.user, folder, entry.path, etag);
    } else {
      if (!await confirmDialog({title: `Delete ${name}?`, danger: true, okLabel: "Delete",
                                text: "It goes to the trash, where you can restore it."})) {
        return;
      }
      await applyOp(folder, {op: "delete", path: entry.path, expect: expectOf(entry)});
    }
    toast(`Deleted ${name}`);
    refresh();
  }

  async function newFolder() {
    const name = await askText({title: "New folder", label: "Folder name", okLabel: "Create",
                                check: (value) => nameProblem(value)
                                  || ([...shown.keys()].some((p) => nameOf(p) === value)
                                    ? "Something here already has that name." : "")});
    if (name === null) return;
    try {
      await applyOp(folder, {op: "mkdir", path: join(dir, name), expect: null,
                             entry: {mode: 0o755, mtime_ns: nowNs()}});
      toast(`Created ${name}`);
    } catch (err) {
      toast(explain(err));
    }
    refresh();
  }

  const panel = new UploadPanel({user: session.user, folder, onDone: () => reloadSoon()});
  let reloadTimer = 0;
  function reloadSoon() {  // after a burst of small uploads, one listing, not one per file
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(async () => {
      if (signal.aborted) return;
      shown.clear();
      cursor = null;
      try { await load(); } catch (err) { if (!signal.aborted) toast(explain(err)); }
    }, 300);
  }

  /** ``picked``: [{file, path}] and [{dir}] with paths relative to this folder's view. */
  async function send(picked) {
    const dirs = new Set();
    for (const p of picked) {
      const path = p.dir !== undefined ? p.dir : parentOf(p.path);
      const parts = path ? path.split("/") : [];
      parts.forEach((_, i) => dirs.add(join(dir, parts.slice(0, i + 1).join("/"))));
    }
    try {
      if (dirs.size) await makeDirs(folder, [...dirs], nowNs());
    } catch (err) {
      toast(explain(err));
      return;
    }
    panel.add(picked.filter((p) => p.file).map((p) => {
      const path = join(dir, p.path);
      return {file: p.file, path, replacing: null};
    }));
  }

  function pickerInput(label, directory) {
    const input = h("input", {type: "file", multiple: true, class: "visually-hidden", webkitdirectory: directory});
    input.addEventListener("change", () => {
      const picked = [...input.files].map((file) => ({file, path: file.webkitRelativePath || file.name}));
      input.value = "";
      if (picked.length) send(picked);
    });
    return h("label", {class: "button"}, label, input);
  }

  main.ondragover = writable ? (event) => { event.preventDefault(); main.classList.add("dropping"); } : null;
  main.ondragleave = () => main.classList.remove("dropping");
  main.ondrop = writable ? async (event) => {
    event.preventDefault();
    main.classList.remove("dropping");
    send(await droppedFiles(event.dataTransfer.items));
  } : null;

  showMore.addEventListener("click", async () => {
    showMore.disabled = true;
    try { await load(); } catch (err) { toast(explain(err)); } finally { showMore.disabled = false; }
  });

  await load();
  if (info.lock_seq) await loadLocks();
  follow({folders: [{name: folder, seq: cursor.seq}], signal, onSeq: () => reloadSoon(),
          onLocks: () => loadLocks().catch((err) => toast(explain(err))),
          onRevoked: () => toast(`${folder} is no longer shared with you.`), onEnded: ended});
  const more = h("div", {class: "actions secondary"},
                 h("a", {class: "button", href: "/ui/zip" + query({folder, dir}),
                         download: `${dir ? nameOf(dir) : folder}.zip`}, "Download as zip"),
                 h("a", {class: "button", href: pathHref("trash", folder, dir)}, "Trash"),
                 h("a", {class: "button", href: pathHref("share", folder, "")}, "Sharing"),
                 h("a", {class: "button", href: pathHref("activity", folder, "")}, "Activity"));
  const toolbar = h("div", {class: "actions"},
                    dir ? h("a", {class: "button", href: filesHref(folder, parentOf(dir))}, "Up") : null,
                    writable ? pickerInput("Upload files", false) : null,
                    writable ? pickerInput("Upload a folder", true) : null,
                    writable ? h("button", {type: "button", onclick: newFolder}, "New folder") : null);
  fill(main, crumbs(folder, dir), h("h1", {}, dir ? nameOf(dir) : folder),
       writable ? null : h("p", {class: "note"}, `Shared with you by ${info.owner}, read only.`),
       toolbar, more, panel.element, list, empty, showMore);
}
