// The uploads panel: each file with its progress bar, speed and time left, a total, and what to do
// when a name is taken (replace, keep both, skip) or the connection breaks (retry sends only what is
// missing).
import {ApiError, folderUrl, sendJSON} from "../api.js";
import {choose} from "../dialogs.js";
import {announce, bytes, h} from "../dom.js";
import {nameOf, opId, parentOf, rowsOf} from "../folder.js";
import {forget, upload} from "../upload.js";

function seconds(s) {
  if (!Number.isFinite(s)) return "";
  if (s < 60) return `${Math.ceil(s)} s`;
  return `${Math.floor(s / 60)} min ${Math.ceil(s % 60)} s`;
}

/** "name (2).ext" for n = 2. */
export function numbered(name, n) {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? `${name.slice(0, dot)} (${n})${name.slice(dot)}` : `${name} (${n})`;
}

async function rowAt(folder, path) {
  const answer = await sendJSON("POST", folderUrl(folder, "/stat"), {paths: [path]});
  const item = answer.items[0];
  return item && Array.isArray(item) ? rowsOf({columns: answer.columns, rows: [item]})[0] : null;
}

/** A panel of uploads into one place; ``onDone()`` after each file committed. */
export class UploadPanel {
  constructor({user, folder, onDone}) {
    this.user = user;
    this.folder = folder;
    this.onDone = onDone;
    this.items = [];
    this.running = false;
    this.totalBar = h("progress", {max: 1, value: 0, "aria-label": "All uploads"});
    this.totalText = h("p", {class: "sub"});
    this.list = h("ul", {class: "list uploads"});
    this.clear = h("button", {type: "button", onclick: () => this.clearFinished()}, "Clear finished");
    this.element = h("section", {class: "card", "aria-labelledby": "uploads-title", hidden: true},
                     h("h2", {id: "uploads-title"}, "Uploads"), this.totalBar, this.totalText, this.list,
                     h("div", {class: "actions"}, this.clear));
  }

  /** Queues ``files`` ([{file, path, replacing}]): ``path`` is where each goes in the folder. */
  add(files) {
    for (const f of files) {
      const item = {...f, sent: 0, state: "waiting", error: "", controller: null, samples: []};
      item.bar = h("progress", {max: Math.max(1, f.file.size), value: 0, "aria-label": `Upload of ${f.path}`});
      item.text = h("span", {class: "sub"});
      item.button = h("button", {type: "button", onclick: () => this.stopOrRetry(item)}, "Cancel");
      item.row = h("li", {}, h("div", {class: "main"}, h("strong", {}, f.path), item.bar, item.text), item.button);
      this.items.push(item);
      this.list.append(item.row);
    }
    this.element.hidden = false;
    this.draw();
    this.run();
  }

  /** Takes the uploads that ended (done, skipped, cancelled) off the panel; hides it when none is left. */
  clearFinished() {
    const ended = new Set(["done", "skipped", "cancelled"]);
    for (const item of this.items.filter((i) => ended.has(i.state))) item.row.remove();
    this.items = this.items.filter((i) => !ended.has(i.state));
    this.element.hidden = this.items.length === 0;
    this.draw();
  }

  draw() {
    const total = this.items.reduce((sum, i) => sum + i.file.size, 0);
    const sent = this.items.reduce((sum, i) => sum + (i.state === "skipped" ? i.file.size : i.sent), 0);
    this.totalBar.max = Math.max(1, total);
    this.totalBar.value = sent;
    const done = this.items.filter((i) => i.state === "done").length;
    this.clear.hidden = !this.items.some((i) => ["done", "skipped", "cancelled"].includes(i.state));
    this.totalText.textContent = `${done} of ${this.items.length} files · ${bytes(sent)} of ${bytes(total)}`;
    for (const item of this.items) {
      item.bar.value = item.sent;
      let line = item.state;
      if (item.state === "sending") {
        const [first, last] = [item.samples[0], item.samples[item.samples.length - 1]];
        const rate = last && last.t > first.t ? (last.bytes - first.bytes) / ((last.t - first.t) / 1000) : 0;
        line = `${bytes(item.sent)} of ${bytes(item.file.size)}`;
        if (rate > 0) line += ` · ${bytes(rate)}/s · ${seconds((item.file.size - item.sent) / rate)} left`;
      } else if (item.state === "failed") {
        line = item.error;
      } else if (item.state === "done") {
        line = `done · ${bytes(item.file.size)}`;
      }
      item.text.textContent = line;
      item.button.textContent = item.state === "failed" ? "Retry" : "Cancel";
      item.button.hidden = item.state === "done" || item.state === "skipped" || item.state === "cancelled";
      item.button.setAttribute("aria-label", `${item.button.textContent} upload of ${item.path}`);
    }
  }

  async stopOrRetry(item) {
    if (item.state === "failed") {
      item.state = "waiting";
      this.draw();
      this.run();
      return;
    }
    item.state = "cancelled";
    if (item.controller) item.controller.abort();
    await forget({user: this.user, folder: this.folder, path: item.path, file: item.file});
    this.draw();
  }

  async run() {
    if (this.running) return;
    this.running = true;
    try {
      for (let item = this.next(); item; item = this.next()) await this.one(item);
    } finally {
      this.running = false;
    }
    const failed = this.items.filter((i) => i.state === "failed").length;
    announce(failed ? `Uploads finished, ${failed} failed` : "Uploads finished");
  }

  next() { return this.items.find((i) => i.state === "waiting"); }

  async one(item) {
    item.state = "sending";
    item.controller = new AbortController();
    item.samples = [];
    const progress = (n) => {
      item.sent = n;
      const now = performance.now();
      item.samples.push({t: now, bytes: n});
      while (item.samples.length > 2 && now - item.samples[0].t > 5000) item.samples.shift();
      this.draw();
    };
    try {
      for (;;) {
        try {
          await upload({user: this.user, folder: this.folder, path: item.path, file: item.file,
                        replacing: item.replacing, onProgress: progress, signal: item.controller.signal});
          break;
        } catch (err) {
          if (!(err instanceof ApiError && err.status === 412)) throw err;
          if (!await this.resolveTaken(item)) return;
        }
      }
      item.state = "done";
      item.sent = item.file.size;
      this.onDone();
    } catch (err) {
      if (err && err.name === "AbortError") return;
      item.state = "failed";
      item.error = err instanceof ApiError ? err.text : String(err);
      announce(`Upload of ${item.path} failed: ${item.error}`);
    } finally {
      this.draw();
    }
  }

  /** A name that is taken: asks what to do; false when the file is skipped. */
  async resolveTaken(item) {
    const there = await rowAt(this.folder, item.path);
    const choice = await choose({title: `${nameOf(item.path)} is already there`,
                                 text: there && there.kind === "dir" ? "A folder has that name." : null,
                                 choices: [there && there.kind === "file" ? {label: "Replace", value: "replace"} : null,
                                           {label: "Keep both", value: "both"},
                                           {label: "Skip", value: "skip"}].filter(Boolean)});
    if (choice === "replace") {
      item.replacing = there;
      return true;
    }
    if (choice === "both") {
      const dir = parentOf(item.path);
      const name = nameOf(item.path);
      const match = /^(.*) \((\d+)\)(\.[^.]*)?$/.exec(name);
      const n = match ? Number(match[2]) + 1 : 2;
      const base = match ? `${match[1]}${match[3] || ""}` : name;
      item.path = (dir ? `${dir}/` : "") + numbered(base, n);
      item.replacing = null;
      item.row.querySelector("strong").textContent = item.path;
      return true;
    }
    item.state = "skipped";
    return false;
  }
}

/** Makes the folders of a folder upload (``dirs``, relative to the folder's top), parents first; a
 * folder already there is fine. */
export async function makeDirs(folder, dirs, mtimeNs) {
  const sorted = [...new Set(dirs)].sort((a, b) => a.split("/").length - b.split("/").length || a.localeCompare(b));
  for (let i = 0; i < sorted.length; i += 1000) {
    const items = sorted.slice(i, i + 1000).map((path) => ({
      id: opId(), op: "mkdir", path, expect: null,
      entry: {mode: 0o755, mtime_ns: mtimeNs}}));
    await sendJSON("POST", folderUrl(folder, "/ops"), {policy: {trash: true, keep_changed: true}, items});
  }
}
