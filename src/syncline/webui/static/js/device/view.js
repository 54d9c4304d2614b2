// Drawing the daemon's status: the server, each folder (state, progress, what to do), the activity.
import {bytes, fill, h} from "../dom.js";

const STATES = {
  "in sync": ["ok", "In sync"], syncing: ["busy", "Syncing"], starting: ["busy", "Starting"],
  paused: ["warn", "Paused"], offline: ["warn", "Offline"], stopped: ["bad", "Stopped"],
};

/** What a person can do about a folder in ``state`` (the CLI's hints, as sentences). */
function advice(folder) {
  if (folder.state === "stopped") {
    return ["A safety check stopped this folder: nothing is synced until you look. Check the folder, then run ",
            h("code", {}, `syncline folder resume ${folder.local}`), " (or edit the config file)."];
  }
  if (folder.state === "offline") return ["The other side cannot be reached: the daemon tries again by itself."];
  if (folder.state === "paused") return ["Paused: nothing is synced until you resume it."];
  return null;
}

function since(ns) {
  if (!ns) return "";
  return new Date(Number(ns) / 1e6).toLocaleString(undefined, {dateStyle: "medium", timeStyle: "short"});
}

function progressOf(folder) {
  if (folder.state !== "syncing") return null;
  const p = folder.progress;
  const left = `${folder.files} files, ${bytes(folder.bytes)} to go` +
    (folder.eta_s !== null && folder.eta_s !== undefined ? `, about ${Math.round(folder.eta_s)} s left` : "");
  const id = "p-" + encodeURIComponent(folder.local).replace(/%/g, "_");
  if (!p || !p.bytes_total) {
    return [h("label", {for: id}, "Looking for changes…"), h("progress", {id})];
  }
  return [h("label", {for: id}, `Copying: ${bytes(p.bytes_done)} of ${bytes(p.bytes_total)} (${left})`),
          h("progress", {id, max: p.bytes_total, value: p.bytes_done})];
}

function folderCard(folder, {onPause, busy}) {
  const [tone, label] = STATES[folder.state] || ["warn", folder.state];
  const name = folder.local.split("/").filter(Boolean).pop() || folder.local;
  const paused = folder.state === "paused";
  const doing = busy.has(folder.local);
  const what = advice(folder);
  const held = folder.not_synced || [];
  return h("section", {class: "card folder", "aria-label": `Folder ${name}`},
    h("h3", {}, name, h("span", {class: `state ${tone}`}, label)),
    h("dl", {},
      h("dt", {}, "Here"), h("dd", {}, h("code", {}, folder.local)),
      h("dt", {}, "Synced with"), h("dd", {}, h("code", {}, folder.remote)),
      h("dt", {}, "Since"), h("dd", {}, since(folder.since_ns)),
      folder.conflicts ? [h("dt", {}, "Conflicts"), h("dd", {}, `${folder.conflicts} kept both since the daemon started`)] : null),
    progressOf(folder),
    folder.why ? h("p", {class: "error"}, folder.why) : null,
    what ? h("p", {class: "hint"}, what) : null,
    held.length ? [h("p", {}, `Not synced, kept here (${held.length}):`),
                   h("ul", {}, held.slice(0, 20).map((i) => h("li", {}, h("code", {}, i.path), ": ", i.why)))] : null,
    h("div", {class: "actions"},
      // aria-disabled, not disabled: a disabled button drops the keyboard focus.
      h("button", {type: "button", dataset: {key: "pause:" + folder.local}, "aria-disabled": doing ? "true" : null,
                   "aria-label": `${paused ? "Resume" : "Pause"} syncing of ${folder.local}`,
                   onclick: () => { if (!doing) onPause(folder.local, !paused); }},
        doing ? "Saving…" : paused ? "Resume" : "Pause")));
}

function serverCard(server) {
  return h("section", {class: "card", "aria-labelledby": "server-h"},
    h("h2", {id: "server-h"}, "Server"),
    server.url ? h("p", {}, h("code", {}, server.url)) : null,
    server.connected
      ? h("p", {}, "This device is logged in", server.pinned ? " (the server's own certificate is pinned)." : ".")
      : h("p", {class: "hint"}, server.why));
}

function eventLine(event) {
  const details = Object.entries(event.details || {}).map(([k, v]) => `${k} ${Array.isArray(v) ? v.join(", ") : v}`);
  const at = new Date(event.time * 1000);
  return h("li", {class: event.trouble ? "trouble" : ""},
    h("span", {}, event.message === event.kind ? event.kind.replace(/-/g, " ") : event.message),
    event.source ? h("span", {class: "sub"}, event.source) : null,
    details.length ? h("span", {class: "sub"}, details.join(" · ")) : null,
    h("time", {datetime: at.toISOString()}, at.toLocaleTimeString()));
}

/** The files the recent runs changed, newest first (each run names its first 20). */
function changeLines(recent) {
  const lines = [];
  for (const event of recent.slice().reverse()) {
    for (const c of event.changes || []) {
      const at = new Date(event.time * 1000);
      lines.push(h("li", {},
        h("span", {}, h("code", {}, c.path)),
        h("span", {class: "sub"}, `${c.what} ${c.where === "here" ? "on this device" : "on the other side"} · `,
          h("time", {datetime: at.toISOString()}, at.toLocaleTimeString()))));
    }
  }
  return lines.slice(0, 50);
}

/** Draws ``status`` (GET /api/status) and the ``recent`` events into ``main``. */
export function renderStatus(main, status, recent, actions) {
  const folders = status.folders || [];
  fill(main,
    h("h1", {}, "This device"),
    status.config_error ? h("div", {class: "card banner", role: "alert"},
      h("p", {}, h("strong", {}, "The last edit of the config file is not used"), " (the folders go on as before):"),
      h("p", {class: "error"}, status.config_error),
      h("p", {class: "hint"}, "Fix ", h("code", {}, status.config), " and save it: the daemon reads it again.")) : null,
    serverCard(status.server),
    h("h2", {}, "Folders"),
    folders.length
      ? h("div", {class: "folders"}, folders.map((f) => folderCard(f, actions)))
      : h("p", {class: "note"}, "No folders yet: add one in Settings, or with ", h("code", {}, "syncline folder add LOCAL --remote NAME"), "."),
    h("h2", {}, "Recent changes"),
    (changes => changes.length ? h("ul", {class: "events card"}, changes)
      : h("p", {class: "note"}, "No file changed since the daemon started."))(changeLines(recent)),
    h("h2", {}, "Recent activity"),
    recent.length ? h("ol", {class: "events card", reversed: true}, recent.slice().reverse().map(eventLine))
      : h("p", {class: "note"}, "Nothing yet."),
    h("p", {class: "hint"}, "Config file: ", h("code", {}, status.config)));
}
