// The login form. The server counts failures per user and per address (the same limits as the
// desktop client and WebDAV), so a refusal may say to wait.
import {ApiError, sendJSON} from "../api.js";
import {fill, h} from "../dom.js";

/** Shows the form in ``main``; ``onLogin(session)`` once the server accepted the user. */
export function loginView(main, {message, onLogin}) {
  document.title = "Log in · syncline";
  const user = h("input", {name: "user", id: "login-user", autocomplete: "username", required: true,
                           autocapitalize: "none", spellcheck: "false"});
  const password = h("input", {name: "password", id: "login-password", type: "password",
                               autocomplete: "current-password", required: true});
  const problem = h("p", {class: "error", role: "alert"});
  const submit = h("button", {type: "submit", class: "primary"}, "Log in");
  const form = h("form", {class: "stack", novalidate: true},
                 h("label", {for: "login-user"}, "User name", user),
                 h("label", {for: "login-password"}, "Password", password),
                 problem, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!user.value || !password.value) {
      problem.textContent = "Enter your user name and password.";
      (user.value ? password : user).focus();
      return;
    }
    submit.disabled = true;
    problem.textContent = "";
    try {
      const session = await sendJSON("POST", "/ui/login", {user: user.value, password: password.value});
      password.value = "";
      onLogin(session);
    } catch (err) {
      problem.textContent = err instanceof ApiError ? err.text : String(err);
      password.select();
    } finally {
      submit.disabled = false;
    }
  });
  fill(main, h("section", {class: "login card", "aria-labelledby": "login-title"},
               h("h1", {id: "login-title"}, "Log in to syncline"),
               message ? h("p", {class: "note"}, message) : null,
               form));
  user.focus();
}
