// Shares: what others offer the user (accept under a name, decline, leave) and, for a folder the user
// owns, who may reach it and how (read only or read and write).
import {ApiError, folderUrl, getJSON, request, sendJSON} from "../api.js";
import {askText, confirmDialog} from "../dialogs.js";
import {fill, h, toast, when} from "../dom.js";
import {follow} from "../live.js";
import {filesHref} from "./files.js";

function explain(err) { return err instanceof ApiError ? err.text : String(err); }

const RIGHTS = {ro: "can view", rw: "can edit"};

async function run(action, done) {
  try {
    await action();
    if (done) toast(done);
  } catch (err) {
    toast(explain(err));
  }
}

/** ``#/shares``: offers and shares, live. */
export async function sharesView(main, _rest, {signal, refresh, ended}) {
  document.title = "Shares · syncline";
  const answer = await getJSON("/v1/shares", signal);
  const offers = answer.incoming.filter((s) => s.state === "offered");
  const joined = answer.incoming.filter((s) => s.state === "accepted");
  const gone = answer.incoming.filter((s) => s.state === "revoked");

  async function accept(share) {
    const name = await askText({title: `Accept ${share.folder} from ${share.owner}`, okLabel: "Accept",
                                label: "Your name for it", value: share.folder,
                                check: (v) => (/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(v) ? ""
                                  : "Letters, digits, “.”, “_” and “-”, at most 64, starting with a letter or digit.")});
    if (name === null) return;
    await run(() => sendJSON("POST", `/v1/shares/${encodeURIComponent(share.uid)}/accept`, {name}),
              `Accepted ${share.folder} as ${name}`);
    refresh();
  }

  async function decline(share, leaving) {
    if (leaving && !await confirmDialog({title: `Leave ${share.name}?`, okLabel: "Leave", danger: true,
                                         text: "Your devices stop syncing it and keep their copies."})) {
      return;
    }
    await run(() => request("POST", `/v1/shares/${encodeURIComponent(share.uid)}/decline`),
              leaving ? `Left ${share.name}` : `Declined ${share.folder}`);
    refresh();
  }

  const section = (title, items, none) => [h("h2", {}, title),
    items.length ? h("ul", {class: "list", "aria-label": title}, items) : h("p", {class: "note"}, none)];
  fill(main, h("h1", {}, "Shares"),
       section("Offered to you", offers.map((s) => h("li", {},
         h("div", {class: "main"}, h("strong", {}, s.folder),
           h("span", {class: "sub"}, `from ${s.owner} · you ${RIGHTS[s.rights]}`)),
         h("button", {type: "button", class: "primary", onclick: () => accept(s),
                      "aria-label": `Accept ${s.folder} from ${s.owner}`}, "Accept"),
         h("button", {type: "button", onclick: () => decline(s, false),
                      "aria-label": `Decline ${s.folder} from ${s.owner}`}, "Decline"))), "No offers."),
       section("Shared with you", joined.map((s) => h("li", {},
         h("div", {class: "main"}, h("a", {href: filesHref(s.name, "")}, s.name),
           h("span", {class: "sub"}, `${s.owner}'s ${s.folder} · you ${RIGHTS[s.rights]} · since ${when(s.since_ns)}`)),
         h("button", {type: "button", onclick: () => decline(s, true), "aria-label": `Leave ${s.name}`}, "Leave"))),
       "Nothing is shared with you."),
       gone.length ? section("Taken back", gone.map((s) => h("li", {}, h("div", {class: "main"},
         h("strong", {}, s.name || s.folder), h("span", {class: "sub"}, `${s.owner} stopped sharing it ${when(s.since_ns)}`)))),
       "") : null,
       section("Your folders shared with others", answer.outgoing.map((s) => h("li", {},
         h("div", {class: "main"}, h("a", {href: `#/share/${encodeURIComponent(s.folder)}`}, s.folder),
           h("span", {class: "sub"}, `${s.user} ${RIGHTS[s.rights]} · ${s.state}`)))), "You share nothing yet."));
  follow({folders: [], shares: true, signal, onShares: refresh, onEnded: ended});
}

/** ``#/share/FOLDER``: who has the folder; its owner adds, changes and removes people. */
export async function shareView(main, rest, {signal, session, refresh}) {
  const folder = rest[0];
  document.title = `Sharing ${folder} · syncline`;
  const info = await getJSON(folderUrl(folder), signal);
  const answer = await getJSON(folderUrl(folder, "/members"), signal);
  const owner = info.owner === session.user;

  async function setRights(user, rights) {
    await run(() => sendJSON("PUT", folderUrl(folder, `/members/${encodeURIComponent(user)}`), {rights}),
              `${user} ${RIGHTS[rights]} now`);
    refresh();
  }

  async function remove(member) {
    const leaving = member.user === session.user;
    if (!await confirmDialog({title: leaving ? `Leave ${folder}?` : `Stop sharing with ${member.user}?`,
                              danger: true, okLabel: leaving ? "Leave" : "Stop sharing",
                              text: "Their devices stop syncing it and keep their copies."})) {
      return;
    }
    await run(() => request("DELETE", folderUrl(folder, `/members/${encodeURIComponent(member.user)}`)),
              leaving ? `Left ${folder}` : `Stopped sharing with ${member.user}`);
    if (leaving) location.hash = "#/";
    else refresh();
  }

  const user = h("input", {id: "share-user", autocomplete: "off", autocapitalize: "none", required: true});
  const rights = h("select", {id: "share-rights"}, h("option", {value: "ro"}, "Can view"),
                   h("option", {value: "rw"}, "Can edit"));
  const problem = h("p", {class: "error", role: "alert"});
  const form = h("form", {class: "stack card"}, h("h2", {}, "Share with someone"),
                 h("label", {for: "share-user"}, "User name", user),
                 h("label", {for: "share-rights"}, "They", rights), problem,
                 h("button", {type: "submit", class: "primary"}, "Share"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!user.value.trim()) { problem.textContent = "Enter the user name of the person."; return; }
    try {
      await sendJSON("PUT", folderUrl(folder, `/members/${encodeURIComponent(user.value.trim())}`),
                     {rights: rights.value});
      toast(`Offered ${folder} to ${user.value.trim()}`);
      refresh();
    } catch (err) {
      problem.textContent = explain(err);
    }
  });

  const rows = answer.members.map((m) => {
    const controls = [];
    if (owner && m.state !== "owner" && m.state !== "revoked") {
      const select = h("select", {"aria-label": `What ${m.user} may do`},
                       h("option", {value: "ro"}, "Can view"), h("option", {value: "rw"}, "Can edit"));
      select.value = m.rights;
      select.addEventListener("change", () => setRights(m.user, select.value));
      controls.push(select, h("button", {type: "button", onclick: () => remove(m),
                                         "aria-label": `Stop sharing with ${m.user}`}, "Remove"));
    } else if (!owner && m.user === session.user && m.state === "accepted") {
      controls.push(h("button", {type: "button", onclick: () => remove(m)}, "Leave"));
    }
    const state = {owner: "owner", offered: "offered, not accepted yet", accepted: RIGHTS[m.rights],
                   revoked: "no longer shared"}[m.state] || m.state;
    return h("li", {}, h("div", {class: "main"}, h("strong", {}, m.user), h("span", {class: "sub"}, state)),
             ...controls);
  });
  fill(main, h("p", {}, h("a", {href: filesHref(folder, "")}, `Back to ${folder}`)),
       h("h1", {}, `Sharing ${folder}`), h("ul", {class: "list", "aria-label": "People"}, rows),
       owner ? form : null);
}
