// A file's versions and a folder's trash. Restoring makes a kept version the live one again (the
// version it replaces is kept in turn), conditional on what the page showed: a file a device changed
// meanwhile is not overwritten.
import {ApiError, folderUrl, getJSON, query, sendJSON} from "../api.js";
import {confirmDialog} from "../dialogs.js";
import {bytes, fill, h, toast, when} from "../dom.js";
import {applyOp, expectOf, fileUrl, nameOf, nowNs, opId, parentOf, rowsOf} from "../folder.js";
import {filesHref} from "./files.js";

function explain(err) { return err instanceof ApiError ? err.text : String(err); }

const REASONS = {replaced: "replaced", deleted: "deleted"};

function byWhom(row) {
  return `${REASONS[row.reason] || row.reason} ${when(row.kept_ns)}${row.device ? ` by ${row.device}` : ""}`;
}

/** ``#/v/FOLDER/path``: the versions of one file. */
export async function versionsView(main, rest, {signal, refresh}) {
  const folder = rest[0];
  const path = rest.slice(1).join("/");
  document.title = `Versions of ${nameOf(path)} · syncline`;
  const answer = await getJSON(folderUrl(folder, "/versions" + query({path})), signal);
  const info = await getJSON(folderUrl(folder), signal);
  const current = answer.current ? rowsOf({columns: answer.columns.slice(0, answer.current.length), rows: [answer.current]})[0] : null;
  const rows = rowsOf(answer);

  async function restore(row) {
    if (!await confirmDialog({title: `Restore this version of ${nameOf(path)}?`, okLabel: "Restore",
                              text: current ? "The version there now is kept too: you can come back to it."
                                : "The file comes back at its place."})) {
      return;
    }
    try {
      await applyOp(folder, {op: "restore", path, version_id: row.version_id,
                             expect: current ? expectOf(current) : null});
      toast(`Restored ${nameOf(path)}`);
    } catch (err) {
      toast(explain(err));
    }
    refresh();
  }

  const items = rows.map((row) => h("li", {},
    h("div", {class: "main"},
      h("strong", {}, `${bytes(row.size)} · modified ${when(row.mtime_ns)}`),
      h("span", {class: "sub"}, byWhom(row))),
    h("a", {class: "button", href: fileUrl(folder, path, {trash_id: row.version_id}), download: nameOf(path),
            "aria-label": `Download the version ${byWhom(row)}`}, "Download"),
    info.rights === "rw" ? h("button", {type: "button", onclick: () => restore(row),
                                        "aria-label": `Restore the version ${byWhom(row)}`}, "Restore") : null));
  fill(main,
       h("p", {}, h("a", {href: filesHref(folder, parentOf(path))}, `Back to ${parentOf(path) ? nameOf(parentOf(path)) : folder}`)),
       h("h1", {}, `Versions of ${nameOf(path)}`),
       current ? h("p", {class: "note"}, `Now: ${bytes(current.size)} · modified ${when(current.mtime_ns)}`)
               : h("p", {class: "note"}, "The file is deleted; its kept versions are below."),
       items.length ? h("ul", {class: "list", "aria-label": "Kept versions"}, items)
                    : h("p", {class: "note"}, "No earlier versions are kept."));
}

/** ``#/trash/FOLDER[/dir]``: what was deleted (under ``dir``), newest first, to restore or purge. */
export async function trashView(main, rest, {signal, session, refresh}) {
  const folder = rest[0];
  const dir = rest.slice(1).join("/");
  document.title = `Trash of ${folder} · syncline`;
  const info = await getJSON(folderUrl(folder), signal);
  const list = h("ul", {class: "list", "aria-label": "Deleted files"});
  const more = h("button", {type: "button", hidden: true}, "Show more");
  const empty = h("p", {class: "note", hidden: true}, "The trash is empty.");
  let next = null;
  let count = 0;

  async function restore(row) {
    // Its folders first (a deleted folder's files come back into it), then the file, in one batch.
    const parts = parentOf(row.path) ? parentOf(row.path).split("/") : [];
    const items = parts.map((_, i) => ({id: opId(), op: "mkdir", path: parts.slice(0, i + 1).join("/"),
                                        expect: null, entry: {mode: 0o755, mtime_ns: nowNs()}}));
    items.push({id: opId(), op: "restore", path: row.path, version_id: row.version_id, expect: null});
    try {
      const answer = await sendJSON("POST", folderUrl(folder, "/ops"),
                                    {policy: {trash: true, keep_changed: true}, items});
      const last = answer.results[answer.results.length - 1];
      if (last.error) throw new ApiError(409, last.error.code, last.error.message, last.error.hint);
      if (!last.done) throw new ApiError(409, "changed", `something is at ${row.path} now`, "rename it first");
      toast(`Restored ${row.path}`);
    } catch (err) {
      toast(explain(err));
    }
    refresh();
  }

  async function purge() {
    if (!await confirmDialog({title: `Empty the trash of ${folder}?`, danger: true, okLabel: "Empty the trash",
                              text: "Deleted files are gone for good. Files that are still there keep their "
                                + "versions."})) {
      return;
    }
    try {
      const answer = await sendJSON("POST", folderUrl(folder, "/purge"), {path: dir});
      toast(`Emptied the trash: ${answer.purged} versions removed`);
    } catch (err) {
      toast(explain(err));
    }
    refresh();
  }

  async function load() {
    const answer = await getJSON(folderUrl(folder, "/deleted" + query({before: next, path: dir || undefined,
                                                                        limit: 200})), signal);
    for (const row of rowsOf(answer)) {
      count += 1;
      list.append(h("li", {},
        h("div", {class: "main"}, h("strong", {}, row.path),
          h("span", {class: "sub"}, `${bytes(row.size)} · deleted ${when(row.kept_ns)}${row.device ? ` by ${row.device}` : ""}`)),
        h("a", {class: "button", href: fileUrl(folder, row.path, {trash_id: row.version_id}),
                download: nameOf(row.path), "aria-label": `Download ${row.path}`}, "Download"),
        info.rights === "rw" ? h("button", {type: "button", onclick: () => restore(row),
                                            "aria-label": `Restore ${row.path}`}, "Restore") : null));
    }
    next = answer.more ? answer.next : null;
    more.hidden = !answer.more;
    empty.hidden = count > 0;
    list.hidden = count === 0;
  }

  more.addEventListener("click", () => load().catch((err) => toast(explain(err))));
  await load();
  fill(main, h("p", {}, h("a", {href: filesHref(folder, dir)}, `Back to ${dir ? nameOf(dir) : folder}`)),
       h("h1", {}, `Trash of ${dir ? nameOf(dir) : folder}`),
       h("p", {class: "note"}, "Deleted files are kept here as long as the server's retention says (30 days unless its admin chose otherwise)."),
       info.owner === session.user && count ? h("div", {class: "actions"},
         h("button", {type: "button", class: "danger", onclick: purge}, "Empty the trash")) : null,
       list, empty, more);
}

