// Modal dialogs on the native <dialog>: focus moves into it and stays there, Escape closes it (as
// "cancel"), and focus returns to the control that opened it.
import {h} from "./dom.js";

let counter = 0;

function open(title, body, buttons, initial) {
  counter += 1;
  const titleId = `dialog-title-${counter}`;
  const dialog = h("dialog", {"aria-labelledby": titleId, class: "dialog"});
  const opener = document.activeElement;
  return new Promise((resolve) => {
    let answer = null;
    const form = h("form", {method: "dialog"},
                   h("h2", {id: titleId}, title), body,
                   h("div", {class: "actions"}, buttons.map((b) => {
                     const button = h("button", {type: b.submit ? "submit" : "button", class: b.class || null,
                                                 value: b.value}, b.label);
                     if (!b.submit) button.addEventListener("click", () => { answer = b.value; dialog.close(); });
                     return button;
                   })));
    form.addEventListener("submit", (event) => {
      const check = buttons.find((b) => b.submit).check;
      const problem = check ? check() : "";
      if (problem) {
        event.preventDefault();
        return;
      }
      answer = event.submitter ? event.submitter.value : buttons.find((b) => b.submit).value;
    });
    dialog.append(form);
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (opener && opener.isConnected) opener.focus();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    if (initial) initial.focus();
  });
}

/** Asks yes or no: true when ``okLabel`` was chosen. */
export async function confirmDialog({title, text, okLabel, danger}) {
  const answer = await open(title, h("p", {}, text),
                            [{label: "Cancel", value: "cancel"},
                             {label: okLabel, value: "ok", submit: true, class: danger ? "danger" : "primary"}]);
  return answer === "ok";
}

/** Asks for one line of text: the text (trimmed), or null when cancelled. ``check(value)`` returns a
 * problem to show (the dialog stays open) or "". ``selectEnd``: select the value up to there (a file's
 * name without its extension, as file managers do). */
export async function askText({title, label, value = "", okLabel, check, selectEnd}) {
  counter += 1;
  const id = `dialog-input-${counter}`;
  const input = h("input", {id, value, autocomplete: "off", autocapitalize: "none", spellcheck: "false"});
  const problem = h("p", {class: "error", role: "alert"});
  const body = h("div", {class: "stack"}, h("label", {for: id}, label, input), problem);
  const pending = open(title, body,
                            [{label: "Cancel", value: "cancel"},
                             {label: okLabel, value: "ok", submit: true, class: "primary",
                              check: () => {
                                problem.textContent = check ? check(input.value.trim()) : "";
                                if (problem.textContent) input.focus();
                                return problem.textContent;
                              }}], input);
  if (selectEnd !== undefined) input.setSelectionRange(0, selectEnd);
  const answer = await pending;
  return answer === "ok" ? input.value.trim() : null;
}

/** A list of choices as buttons (a phone's action sheet): the chosen ``value``, or null. */
export function choose({title, choices, text}) {
  return open(title, text ? h("p", {class: "note"}, text) : null,
              [...choices, {label: "Cancel", value: "cancel", submit: true}])
    .then((answer) => (answer === "cancel" ? null : answer));
}
