// The device's page (served by `syncline daemon` on 127.0.0.1, opened by `syncline ui`): logs in with the
// token in the URL's fragment, then shows the daemon's status, kept live by its event stream.
import {ApiError, getJSON, sendJSON, setCsrf} from "../api.js";
import {announce, fill, h, toast} from "../dom.js";
import {conflictsSection} from "./conflicts.js";
import {mountSettings} from "./settings.js";
import {renderStatus} from "./view.js";

const main = document.getElementById("main");
const RECENT = 50;
const state = {status: null, recent: [], busy: new Set(), refreshing: null, again: false};
const conflicts = conflictsSection();

/** Trades the fragment's token for a session cookie (or reuses the cookie after a reload); the CSRF value. */
async function logIn() {
  const token = location.hash.slice(1);
  if (token) {
    // Out of the address bar and the history at once: not left for someone looking over a shoulder.
    history.replaceState(null, "", location.pathname + location.search);
    return (await sendJSON("POST", "/session", {token})).csrf;
  }
  return (await getJSON("/api/session")).csrf;
}

function loggedOut(err) {
  fill(main, h("h1", {}, "This page is not logged in"),
       h("p", {class: "error", role: "alert"}, err instanceof ApiError ? err.text : String(err)),
       h("p", {}, "Run ", h("code", {}, "syncline ui"), " on this computer: it opens the page logged in. ",
         "If the daemon is not running, start it with ", h("code", {}, "syncline daemon"), "."));
}

/** Reads /api/status and draws it; calls made meanwhile are folded into one more read. */
async function refresh() {
  if (state.refreshing) { state.again = true; return state.refreshing; }
  state.refreshing = (async () => {
    do {
      state.again = false;
      try {
        const status = await getJSON("/api/status");
        state.status = status;
        state.recent = status.recent.slice(-RECENT);
        draw();
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) { loggedOut(err); return; }
        toast(err instanceof ApiError ? err.text : String(err));
      }
    } while (state.again);
  })();
  try { await state.refreshing; } finally { state.refreshing = null; }
}

// One read of the status for a burst of events (a run's progress comes 4 times a second: a timer reset by
// each would never fire).
let timer = 0;
function soon(ms = 250) {
  if (timer) return;
  timer = setTimeout(() => { timer = 0; refresh(); }, ms);
}

// The control a keyboard user was on keeps the focus across redraws, even one drawn while its folder was
// briefly gone (a folder's loop restarting after a pause shows it ended, then started).
let focusKey = "";
main.addEventListener("focusin", (e) => { focusKey = (e.target.dataset && e.target.dataset.key) || ""; });

function draw() {
  const lost = document.activeElement === document.body || main.contains(document.activeElement);
  renderStatus(main, state.status, state.recent, {onPause: setPaused, busy: state.busy});
  conflicts.place(main);
  if (focusKey && lost) {
    const again = main.querySelector(`[data-key="${CSS.escape(focusKey)}"]`);
    if (again) again.focus();
  }
}

async function setPaused(local, paused) {
  state.busy.add(local);
  draw();
  try {
    await sendJSON("POST", "/api/folders/" + encodeURIComponent(local) + (paused ? "/pause" : "/resume"), {});
    announce(paused ? `Pausing ${local}` : `Resuming ${local}`);
  } catch (err) {
    toast(err instanceof ApiError ? err.text : String(err));
  } finally {
    state.busy.delete(local);
    soon(0);
  }
}

function follow() {
  const stream = new EventSource("/api/events");
  stream.addEventListener("daemon", (e) => {
    const event = JSON.parse(e.data);
    window.dispatchEvent(new CustomEvent("daemon-event", {detail: event}));  // for the other views
    state.recent.push(event);
    if (state.recent.length > RECENT) state.recent.shift();
    if (event.trouble) announce(event.message);
    soon();
    conflicts.changed();
  });
  stream.addEventListener("state", () => soon(500));
  stream.addEventListener("reset", () => soon(0));
  let lost = false;
  stream.addEventListener("open", () => {
    if (lost) announce("The daemon is back.");
    lost = false;
    soon(0);  // after a reconnect: what changed while away
    conflicts.changed();
  });
  stream.addEventListener("error", () => {
    // CONNECTING: the browser tries again by itself. CLOSED: refused (401: a new start of the daemon has
    // a new token, and this page's session ended with the old one).
    if (stream.readyState === EventSource.CLOSED) {
      loggedOut(new Error("the daemon stopped or started again since this page was opened"));
    } else if (!lost) {
      lost = true;
      toast("The daemon cannot be reached: trying again…");
    }
  });
}

async function boot() {
  try {
    setCsrf(await logIn());
  } catch (err) {
    loggedOut(err);
    return;
  }
  mountSettings(main);
  await refresh();
  follow();
}

boot();
