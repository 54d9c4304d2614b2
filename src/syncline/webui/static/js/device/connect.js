// The settings' "Server" card: which server this device syncs with and whether it is logged in, and
// connecting it as `syncline connect` does: the address first (POST /api/connect/meet shows the server's
// certificate fingerprint before anything secret is sent), then, once the person confirms the
// fingerprint, user and password (POST /api/connect/login). The password field is emptied whatever the
// answer; the daemon keeps the device's token and never sends it to the page.
import {ApiError, getJSON, sendJSON} from "../api.js";
import {announce, fill, h, toast} from "../dom.js";

function errText(err) { return err instanceof ApiError ? err.text : String(err); }

/** The card for ``server`` (/api/status's ``server``); ``onDone()`` after a device was connected. */
export function connectCard(server, onDone) {
  server = server || {url: null, connected: false, why: null};
  const problem = h("p", {class: "error", role: "alert"});
  const url = h("input", {id: "con-url", type: "url", value: server.url || "", autocomplete: "url",
                          spellcheck: "false", autocapitalize: "none", "aria-describedby": "con-url-hint"});
  const step2 = h("div", {class: "stack", hidden: true});
  const check = h("button", {type: "button"}, "Check the server");
  const form = h("form", {class: "stack", "aria-label": "Connect to a server", novalidate: true},
    h("div", {class: "field"}, h("label", {for: "con-url"}, "Server address"), url,
      h("p", {class: "hint", id: "con-url-hint"}, "As `syncline serve` printed it, e.g. https://host:8765")),
    h("div", {class: "actions"}, check), step2, problem);
  let met = null;
  url.addEventListener("input", () => { met = null; step2.hidden = true; });  // another address: meet it first

  check.addEventListener("click", async () => {
    fill(problem);
    step2.hidden = true;
    try {
      met = await sendJSON("POST", "/api/connect/meet", {url: url.value.trim()});
    } catch (err) {
      fill(problem, errText(err));
      return;
    }
    fill(step2, ...loginFields(met));
    step2.hidden = false;
    announce(met.fingerprint ? "Compare the fingerprint, then log in." : "Log in.");
    step2.querySelector("input").focus();
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!met) { check.click(); return; }  // Enter in the address: check it
    const password = form.querySelector("#con-password");
    const trusted = form.querySelector("#con-trust");
    fill(problem);
    if (trusted && !trusted.checked) {
      fill(problem, "Compare the fingerprint with what `syncline serve` printed, and tick the box.");
      trusted.focus();
      return;
    }
    const body = {url: met.url, fingerprint: met.fingerprint, user: form.querySelector("#con-user").value.trim(),
                  password: password.value, device: form.querySelector("#con-device").value.trim() || null};
    password.value = "";  // never left on the page, whatever the answer
    try {
      const done = await sendJSON("POST", "/api/connect/login", body);
      toast(`Connected to ${done.url} as ${done.user}.`);
      onDone();
    } catch (err) {
      fill(problem, errText(err));
      if (err instanceof ApiError && err.code === "fingerprint_changed") { met = null; step2.hidden = true; }
    }
  });

  const connected = server.connected;
  return h("section", {class: "card", "aria-labelledby": "con-h"},
    h("h2", {id: "con-h"}, "Server"),
    server.url ? h("p", {}, h("code", {}, server.url)) : h("p", {class: "note"}, "No server yet."),
    connected ? whoLine() : server.why ? h("p", {class: "hint"}, server.why) : null,
    h("details", {open: !connected},
      h("summary", {}, connected ? "Connect again, or to another server" : "Connect this device"),
      form));
}

/** "Logged in as USER", filled in when the server answers GET /api/server/whoami (asked now: a revoked
 * token or a server out of reach shows here, with what to do). */
function whoLine() {
  const line = h("p", {id: "con-who", role: "status"}, "This device is logged in.");
  getJSON("/api/server/whoami").then(
    (who) => fill(line, "Logged in as ", h("strong", {}, who.user), who.admin ? " (an administrator)" : "",
                  "; this device is ", h("strong", {}, who.device), " on the server."),
    (err) => { line.className = "error"; fill(line, errText(err)); });
  return line;
}

function loginFields(met) {
  const trust = met.fingerprint ? [
    h("p", {}, "The server's certificate has the fingerprint"),
    h("p", {}, h("code", {id: "con-fp"}, met.fingerprint)),
    h("div", {class: "check"}, h("input", {id: "con-trust", type: "checkbox"}),
      h("label", {for: "con-trust"}, "It is the one `syncline serve` printed on the server"))] : [];
  const text = (id, label, extra) => h("div", {class: "field"}, h("label", {for: id}, label),
    h("input", {id, spellcheck: "false", autocapitalize: "none", ...extra}));
  return [...trust,
    text("con-user", "User name", {autocomplete: "username"}),
    text("con-password", "Password", {type: "password", autocomplete: "current-password"}),
    text("con-device", "Name of this device (optional)", {autocomplete: "off"}),
    h("div", {class: "actions"}, h("button", {type: "submit", class: "primary"}, "Log in"))];
}
