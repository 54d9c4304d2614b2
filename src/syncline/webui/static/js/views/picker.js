// Choosing a destination folder inside one of the server's folders (for a move): a dialog that walks
// the folders, one level at a time.
import {ApiError} from "../api.js";
import {fill, h} from "../dom.js";
import {listPage, nameOf, parentOf, rowsOf} from "../folder.js";

/** The folder (a path, "" for the top) the user picked, or null. ``moving`` is never offered as a place
 * for itself (a folder cannot go inside itself). */
export function pickFolder({folder, start, moving}) {
  const dialog = h("dialog", {class: "dialog", "aria-labelledby": "picker-title"});
  const title = h("h2", {id: "picker-title"});
  const places = h("ul", {class: "list", "aria-label": "Folders here"});
  const problem = h("p", {class: "error", role: "alert"});
  const here = h("button", {type: "button", class: "primary"}, "Move here");
  const up = h("button", {type: "button"}, "Up");
  const cancel = h("button", {type: "button"}, "Cancel");
  const opener = document.activeElement;
  let at = start;
  let answer = null;

  async function show(path) {
    at = path;
    title.textContent = `Move ${nameOf(moving.path)} to ${path ? nameOf(path) : folder}`;
    up.disabled = path === "";
    here.disabled = path === parentOf(moving.path);
    problem.textContent = "";
    const dirs = [];
    let cursor = null;
    try {
      do {
        cursor = await listPage(folder, path, cursor);
        for (const row of rowsOf(cursor)) {
          if (row.kind === "dir" && row.path !== path && row.path !== moving.path) dirs.push(row.path);
        }
      } while (cursor.more);
    } catch (err) {
      problem.textContent = err instanceof ApiError ? err.text : String(err);
    }
    dirs.sort((a, b) => nameOf(a).localeCompare(nameOf(b)));
    fill(places, dirs.map((d) => h("li", {}, h("button", {type: "button", class: "place", onclick: () => show(d)},
                                                nameOf(d)))));
    if (!dirs.length) fill(places, h("li", {class: "note"}, "No folders here."));
    (here.disabled ? up : here).focus();
  }

  return new Promise((resolve) => {
    here.addEventListener("click", () => { answer = at; dialog.close(); });
    up.addEventListener("click", () => show(parentOf(at)));
    cancel.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (opener && opener.isConnected) opener.focus();
      resolve(answer);
    });
    dialog.append(title, places, problem, h("div", {class: "actions"}, up, cancel, here));
    document.body.append(dialog);
    dialog.showModal();
    show(start);
  });
}
