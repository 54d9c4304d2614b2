// The server's users, for an administrator: storage used against each quota, devices, last seen; set a
// quota, disable or enable someone. Adding users stays on the server machine (`syncline user add`).
import {ApiError, getJSON, sendJSON} from "../api.js";
import {barChart} from "../charts.js";
import {askText, confirmDialog} from "../dialogs.js";
import {bytes, fill, h, toast, when} from "../dom.js";

const UNITS = {"": 1, B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 1024, MIB: 1024 ** 2, GIB: 1024 ** 3,
               TIB: 1024 ** 4};

/** "10GB", "512 MiB", "none" -> bytes, null (no quota), or undefined (not understood). */
export function parseSize(text) {
  const t = text.trim().toUpperCase();
  if (t === "" || t === "NONE" || t === "NO" || t === "UNLIMITED") return null;
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]I?B|B)?$/.exec(t);
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNITS[m[2] || ""]);
}

function explain(err) { return err instanceof ApiError ? err.text : String(err); }

/** ``#/users`` */
export async function usersView(main, _rest, {signal, session, refresh}) {
  document.title = "Users · syncline";
  const {users} = await getJSON("/v1/users", signal);
  users.sort((a, b) => a.name.localeCompare(b.name));

  async function change(user, body, done) {
    try {
      await sendJSON("PATCH", `/v1/users/${encodeURIComponent(user.name)}`, body);
      toast(done);
    } catch (err) {
      toast(explain(err));
    }
    refresh();
  }

  async function quota(user) {
    const text = await askText({title: `Quota of ${user.name}`, label: "Quota (for example 20GB; empty: none)",
                                value: user.quota === null ? "" : bytes(user.quota).replace(" ", ""), okLabel: "Set",
                                check: (v) => (parseSize(v) === undefined ? "Write a size such as 500MB or 20GB." : "")});
    if (text === null) return;
    const value = parseSize(text);
    await change(user, {quota: value}, value === null ? `${user.name} has no quota now` : `${user.name} may use ${bytes(value)}`);
  }

  async function toggle(user) {
    if (!user.disabled && !await confirmDialog({title: `Disable ${user.name}?`, danger: true, okLabel: "Disable",
                                                text: "Their devices are logged out at once and they cannot log "
                                                  + "in. Their folders and files stay."})) {
      return;
    }
    await change(user, {disabled: !user.disabled}, `${user.name} is ${user.disabled ? "enabled" : "disabled"}`);
  }

  const rows = users.map((u) => {
    const parts = [u.quota === null ? `${bytes(u.used)} used` : `${bytes(u.used)} of ${bytes(u.quota)}`,
                   `${u.devices} device${u.devices === 1 ? "" : "s"}`,
                   u.last_seen_ns ? `last seen ${when(u.last_seen_ns)}` : "never seen"];
    if (u.admin) parts.unshift("admin");
    if (u.disabled) parts.unshift("disabled");
    return h("li", {}, h("div", {class: "main"}, h("strong", {}, u.name), h("span", {class: "sub"}, parts.join(" · "))),
             h("button", {type: "button", onclick: () => quota(u), "aria-label": `Quota of ${u.name}`}, "Quota"),
             u.name === session.user ? null
               : h("button", {type: "button", class: u.disabled ? null : "danger", onclick: () => toggle(u),
                              "aria-label": `${u.disabled ? "Enable" : "Disable"} ${u.name}`},
                   u.disabled ? "Enable" : "Disable"));
  });
  fill(main, h("h1", {}, "Users"),
       barChart({title: "Storage used per user", horizontal: true, format: bytes,
                 rows: users.map((u) => ({label: u.name, values: {used: u.used,
                   free: u.quota === null ? 0 : Math.max(0, u.quota - u.used)}})),
                 series: [{key: "used", label: "used"}, {key: "free", label: "left of the quota"}]}),
       h("ul", {class: "list", "aria-label": "Users"}, rows),
       h("p", {class: "note"}, "New users are added on the server: syncline user add NAME."));
}
