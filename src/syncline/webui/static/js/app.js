// The server's page: who is logged in, the sections, and a hash router (#/..., so a reload or a shared
// link opens the same view and the server serves one page).
import {ApiError, getJSON, request, setCsrf} from "./api.js";
import {fill, h, toast} from "./dom.js";
import {loginView} from "./views/login.js";
import {foldersView} from "./views/folders.js";
import {filesView} from "./views/files.js";
import {trashView, versionsView} from "./views/versions.js";
import {shareView, sharesView} from "./views/sharing.js";
import {devicesView} from "./views/devices.js";
import {activityView} from "./views/activity.js";
import {usersView} from "./views/users.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");

/** The session: {user, admin, csrf, ...}, or null before login. */
export const state = {session: null};

// The sections in the menu; ``views`` are the other routes that belong to a section (its nav link is
// marked current on them).
const SECTIONS = [
  {path: "", label: "Files", view: foldersView,
   views: {f: filesView, v: versionsView, trash: trashView, share: shareView, activity: activityView}},
  {path: "shares", label: "Shares", view: sharesView},
  {path: "devices", label: "Devices", view: devicesView},
  {path: "users", label: "Users", view: usersView, admin: true},
];

function route() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [first, ...rest] = raw.split("/");
  const parts = rest.map((part) => { try { return decodeURIComponent(part); } catch { return part; } });
  for (const section of SECTIONS) {
    if (section.path === first) return {section, view: section.view, rest: parts};
    if (section.views && section.views[first]) return {section, view: section.views[first], rest: parts};
  }
  return {section: SECTIONS[0], view: SECTIONS[0].view, rest: []};
}

let rendering = null;

async function render() {
  if (!state.session) return;
  const {section, view, rest} = route();
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.path === section.path) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  main.ondragover = main.ondragleave = main.ondrop = null;  // a view sets its own
  main.classList.remove("dropping");
  const controller = new AbortController();
  if (rendering) rendering.abort();
  rendering = controller;
  try {
    await view(main, rest, {signal: controller.signal, session: state.session, refresh: render,
                            ended: () => loggedOut("Your session has ended: log in again.")});
  } catch (err) {
    if (err && err.name === "AbortError") return;
    if (err instanceof ApiError && err.status === 401) {
      loggedOut("Your session has ended: log in again.");
      return;
    }
    fill(main, h("h1", {}, "Something went wrong"),
         h("p", {class: "error", role: "alert"}, err instanceof ApiError ? err.text : String(err)),
         h("p", {}, h("a", {href: "#/"}, "Back to your folders")));
  }
}

function showApp(session) {
  state.session = session;
  setCsrf(session.csrf);
  fill(nav, SECTIONS.filter((s) => !s.admin || session.admin)
    .map((s) => h("a", {href: "#/" + s.path, dataset: {path: s.path}}, s.label)));
  nav.hidden = false;
  fill(who, h("span", {}, session.user), h("button", {type: "button", onclick: logOut}, "Log out"));
  render();
}

function loggedOut(message) {
  state.session = null;
  setCsrf("");
  nav.hidden = true;
  fill(who);
  loginView(main, {message, onLogin: showApp});
}

async function logOut() {
  try {
    await request("POST", "/ui/logout");
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) {
      toast(err instanceof ApiError ? err.text : String(err));
      return;
    }
  }
  loggedOut("You are logged out.");
}

async function boot() {
  try {
    showApp(await getJSON("/ui/session"));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) loggedOut("");
    else fill(main, h("p", {class: "error", role: "alert"}, err instanceof ApiError ? err.text : String(err)));
  }
}

window.addEventListener("hashchange", () => { render(); main.focus({preventScroll: true}); });
boot();
