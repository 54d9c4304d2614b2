// The user's devices (laptops, phones, app passwords, browser sessions): when each was last seen, and
// revoking one, which logs it out at its next request.
import {ApiError, getJSON, request} from "../api.js";
import {confirmDialog} from "../dialogs.js";
import {fill, h, toast, when} from "../dom.js";

/** ``#/devices`` */
export async function devicesView(main, _rest, {signal, refresh}) {
  document.title = "Devices · syncline";
  const devices = (await getJSON("/v1/devices", signal)).filter((d) => !d.revoked);
  devices.sort((a, b) => (b.current - a.current) || Number(BigInt(b.last_seen || 0) - BigInt(a.last_seen || 0)) || 0);

  async function revoke(device) {
    if (!await confirmDialog({title: `Log out ${device.name}?`, danger: true, okLabel: "Log it out",
                              text: "It stops syncing at once and has to log in again."})) {
      return;
    }
    try {
      await request("DELETE", `/v1/devices/${encodeURIComponent(device.id)}`);
      toast(`Logged out ${device.name}`);
    } catch (err) {
      toast(err instanceof ApiError ? err.text : String(err));
    }
    refresh();
  }

  fill(main, h("h1", {}, "Your devices"),
       h("ul", {class: "list", "aria-label": "Devices"}, devices.map((d) => h("li", {},
         h("div", {class: "main"}, h("strong", {}, d.current ? `${d.name} (this browser)` : d.name),
           h("span", {class: "sub"}, d.last_seen ? `last seen ${when(d.last_seen)}` : `added ${when(d.created)}`)),
         d.current ? null : h("button", {type: "button", class: "danger", onclick: () => revoke(d),
                                         "aria-label": `Log out ${d.name}`}, "Log out")))));
}
