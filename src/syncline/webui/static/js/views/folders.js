// The folders the user can reach: their own and the shares they accepted, with what each holds.
import {ApiError, folderUrl, getJSON, request} from "../api.js";
import {askText} from "../dialogs.js";
import {bytes, fill, h, toast} from "../dom.js";
import {follow} from "../live.js";

function describe(folder) {
  const parts = [`${folder.files} file${folder.files === 1 ? "" : "s"}`, bytes(folder.bytes)];
  if (folder.shared) parts.push(`shared by ${folder.owner}`);
  if (folder.rights === "ro") parts.push("read only");
  if (folder.damaged) parts.push("damaged: ask the server's admin");
  return parts.join(" · ");
}

/** The list of folders in ``main``, with a bar of each one's share of the bytes shown. */
export async function foldersView(main, _rest, {signal, refresh, ended}) {
  document.title = "Files · syncline";
  const folders = await getJSON("/v1/folders", signal);
  folders.sort((a, b) => a.name.localeCompare(b.name));
  const most = Math.max(1, ...folders.map((f) => f.bytes));
  const items = folders.map((folder) => {
    const meter = h("span");
    meter.style.width = `${Math.max(1, Math.round((100 * folder.bytes) / most))}%`;
    return h("li", {},
             h("div", {class: "main"},
               h("a", {href: "#/f/" + encodeURIComponent(folder.name)}, folder.name),
               h("span", {class: "sub"}, describe(folder)),
               h("div", {class: "meter", role: "img", "aria-label": `${bytes(folder.bytes)} used`}, meter)));
  });
  async function newFolder() {
    const name = await askText({title: "New folder", label: "Folder name", okLabel: "Create",
                                check: (v) => (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(v)
                                  ? "Letters, digits, “.”, “_” and “-”, at most 64, starting with a letter or digit."
                                  : folders.some((f) => f.name === v) ? "You have a folder of that name." : "")});
    if (name === null) return;
    try {
      await request("PUT", folderUrl(name));
      location.hash = "#/f/" + encodeURIComponent(name);
    } catch (err) {
      toast(err instanceof ApiError ? err.text : String(err));
    }
  }

  fill(main, h("h1", {}, "Your folders"),
       h("div", {class: "actions"}, h("button", {type: "button", onclick: newFolder}, "New folder")),
       folders.length ? h("ul", {class: "list"}, items)
                      : h("p", {class: "note"}, "No folders yet: make one here, or a device that syncs a folder makes it."));
  follow({folders: folders.map((f) => ({name: f.name, seq: f.seq})), shares: true, signal, onSeq: refresh,
          onShares: refresh, onEnded: ended});
}
