// The folders the user can reach: their own and the shares they accepted, with what each holds.
import {getJSON} from "../api.js";
import {bytes, fill, h} from "../dom.js";
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
  fill(main, h("h1", {}, "Your folders"),
       folders.length ? h("ul", {class: "list"}, items)
                      : h("p", {class: "note"}, "No folders yet: a device that syncs a folder makes it here."));
  follow({folders: folders.map((f) => ({name: f.name, seq: f.seq})), shares: true, signal, onSeq: refresh,
          onShares: refresh, onEnded: ended});
}
