// "Add a folder": a dialog that walks the folders under the home (GET /api/dirs: a browser cannot hand a
// page a local path) and names the server folder, made on the server when missing (POST
// /api/server/folders, as `syncline folder add --create`; those there are offered as the name is typed). A native <dialog>: focus stays in it, Escape
// cancels, focus goes back to the button that opened it.
import {ApiError, getJSON, query, sendJSON} from "../api.js";
import {fill, h} from "../dom.js";

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;  // the server's folder names (protocol.md)

/** A server folder name made of a local folder's name (its other characters as "-"). */
function nameOf(path) {
  const base = path.split("/").filter(Boolean).pop() || "";
  return base.replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 64);
}

/** Resolves to {local, remote} once a folder is picked (and made on the server when asked), or null. */
export function pickFolder({connected}) {
  const dialog = h("dialog", {class: "dialog picker", "aria-labelledby": "pick-h"});
  const opener = document.activeElement;
  const where = h("p", {id: "pick-where"});
  const list = h("ul", {class: "list", "aria-label": "Folders in it"});
  const problem = h("p", {class: "error", role: "alert"});
  const remote = h("input", {id: "pick-remote", autocomplete: "off", spellcheck: "false", autocapitalize: "none",
                             list: "pick-known", "aria-describedby": "pick-remote-hint"});
  const known = h("datalist", {id: "pick-known"});
  if (connected) {
    // The folders already on the server, offered as the person types (a failure leaves just the field).
    getJSON("/api/server/folders").then((got) => fill(known, got.folders.map((name) => h("option", {value: name}))),
                                        () => {});
  }
  const create = h("input", {id: "pick-create", type: "checkbox", checked: connected});
  const up = h("button", {type: "button"}, "Up one level");
  let here = null;
  let named = false;  // the person typed a name: moving in the tree no longer replaces it
  remote.addEventListener("input", () => { named = true; });

  async function open(path) {
    try {
      const got = await getJSON("/api/dirs" + query({path: path || undefined}));
      here = got.path;
      fill(where, "This folder: ", h("code", {}, here));
      up.hidden = got.parent === null;
      up.onclick = () => open(got.parent);
      fill(list, got.dirs.length ? got.dirs.map((d) => h("li", {},
          h("button", {type: "button", class: "place", "aria-label": `Open ${d.name}`, onclick: () => open(d.path)},
            h("span", {class: "icon icon-dir", "aria-hidden": "true"}), d.name)))
        : h("li", {class: "note"}, "No folders in it."),
        got.more ? h("li", {class: "note"}, "More folders than shown: type the path below the list.") : null);
      if (!named) remote.value = nameOf(here);
      fill(problem);
      (list.querySelector("button") || up).focus();
    } catch (err) {
      fill(problem, err instanceof ApiError ? err.text : String(err));
    }
  }

  return new Promise((resolve) => {
    let result = null;
    const add = h("button", {type: "submit", class: "primary"}, "Add this folder");
    const form = h("form", {method: "dialog", class: "stack"},
      h("h2", {id: "pick-h"}, "Add a folder"),
      h("p", {class: "hint"}, "Open the folder to sync, then name its folder on the server."),
      where, h("div", {class: "actions"}, up), list,
      h("div", {class: "field"}, h("label", {for: "pick-remote"}, "Folder on the server"), remote, known,
        h("p", {class: "hint", id: "pick-remote-hint"}, "Its name on the server, e.g. Documents")),
      h("div", {class: "check"}, create, h("label", {for: "pick-create"}, "Make it on the server if it is not there")),
      problem,
      h("div", {class: "actions"},
        h("button", {type: "button", onclick: () => dialog.close()}, "Cancel"), add));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const name = remote.value.trim();
      if (!here) return;
      // Without a server, the other side may be any address the config takes (a path, a WebDAV URL).
      if (connected ? !NAME_RE.test(name) : !name) {
        fill(problem, "A server folder's name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.");
        remote.focus();
        return;
      }
      add.setAttribute("aria-disabled", "true");
      try {
        if (create.checked) await sendJSON("POST", "/api/server/folders", {name});
        result = {local: here, remote: name};
        dialog.close();
      } catch (err) {
        fill(problem, err instanceof ApiError ? err.text : String(err));
      } finally {
        add.removeAttribute("aria-disabled");
      }
    });
    dialog.append(form);
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (opener && opener.isConnected) opener.focus();
      resolve(result);
    });
    document.body.append(dialog);
    dialog.showModal();
    open(null);
  });
}
