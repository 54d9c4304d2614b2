// Building the page from data without ever parsing it as HTML: every name a user chose reaches the page
// as a text node or an attribute value, so a file called "<img onerror=...>" stays a name.

/** An element: h("a", {href: "#/", class: "x", onclick: f}, "text", child, [more]). */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "value" || key === "checked" || key === "files") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces what ``el`` holds with ``children``. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Makes ``el``'s children exactly ``nodes``, in order, touching only what differs: nodes already in
 * place stay (a page of rows appended to a long list inserts that page alone, and the browser lays out
 * what changed, not the whole list), others are moved or inserted, the rest removed. */
export function place(el, nodes) {
  let at = el.firstChild;
  for (const node of nodes) {
    if (node === at) { at = at.nextSibling; continue; }
    el.insertBefore(node, at);  // moves it when it was elsewhere in el
  }
  while (at) { const next = at.nextSibling; at.remove(); at = next; }
  return el;
}

/** Says ``text`` to screen readers (the polite live region) without moving focus. */
export function announce(text) {
  const live = document.getElementById("live");
  live.textContent = "";
  // A new text node after a tick, so the same message twice is announced twice.
  setTimeout(() => { live.textContent = text; }, 50);
}

let toastTimer = 0;
/** A short message at the bottom of the screen, also announced. */
export function toast(text) {
  const el = document.getElementById("toast");
  el.textContent = text;
  el.hidden = false;
  announce(text);
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 4000);
}

const UNITS = ["B", "KB", "MB", "GB", "TB", "PB"];
/** 1234567 -> "1.2 MB" (decimal units, as phones and Dropbox show them). */
export function bytes(n) {
  let i = 0;
  let v = Number(n) || 0;
  while (v >= 1000 && i < UNITS.length - 1) { v /= 1000; i += 1; }
  return (i === 0 ? String(v) : v.toFixed(v < 10 ? 1 : 0)) + " " + UNITS[i];
}

// One formatter for every date: toLocaleString with options builds a new one per call (3 s for 10,000
// rows on a slow phone, measured in bench/webui.py).
const DATE = new Intl.DateTimeFormat(undefined, {dateStyle: "medium", timeStyle: "short"});

/** Nanoseconds since the epoch -> a short local date and time. */
export function when(ns) {
  if (!ns) return "";
  return DATE.format(new Date(Number(BigInt(ns) / 1000000n)));
}
