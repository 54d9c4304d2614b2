// Changes made elsewhere, as they happen: the server's event stream (the same one devices follow). A
// stream the server refuses (more than 4 tabs of one session, a proxy that cuts long requests) falls
// back to asking every 30 seconds, and says so.
import {ApiError, getJSON} from "./api.js";
import {toast} from "./dom.js";

const POLL_MS = 30000;

/**
 * Follows ``folders`` ([{name, seq}]) and, with ``shares``, the user's shares. Handlers:
 * ``onSeq(name, seq)``, ``onLocks(name)``, ``onShares()``, ``onRevoked(name)``, ``onEnded()`` (the
 * session is over). Stops when ``signal`` aborts.
 */
export function follow({folders, shares, signal, onSeq, onLocks, onShares, onRevoked, onEnded}) {
  const params = new URLSearchParams();
  for (const f of folders.slice(0, 64)) params.append("folder", `${f.name}:${f.seq}`);
  if (shares) params.set("shares", "1");
  const seen = new Map(folders.map((f) => [f.name, f.seq]));
  const source = new EventSource(`/v1/events?${params}`);
  let timer = 0;
  let opened = false;

  source.addEventListener("open", () => { opened = true; });
  source.addEventListener("seq", (event) => {
    const data = JSON.parse(event.data);
    if (data.seq !== seen.get(data.folder)) {
      seen.set(data.folder, data.seq);
      if (onSeq) onSeq(data.folder, data.seq);
    }
  });
  source.addEventListener("locks", (event) => { if (onLocks) onLocks(JSON.parse(event.data).folder); });
  source.addEventListener("shares", () => { if (onShares) onShares(); });
  source.addEventListener("revoked", (event) => { if (onRevoked) onRevoked(JSON.parse(event.data).folder); });
  source.addEventListener("error", () => {
    // The browser reconnects by itself after a cut; a refusal (401, 404, 429) closes the stream for good.
    if (source.readyState === EventSource.CLOSED && !signal.aborted) poll();
  });

  async function poll() {
    if (!opened) toast("Live updates are off: this page looks for changes every 30 seconds.");
    opened = true;
    clearTimeout(timer);
    timer = setTimeout(async () => {
      try {
        const now = await getJSON("/v1/folders", signal);
        for (const f of now) {
          if (seen.has(f.name) && seen.get(f.name) !== f.seq) {
            seen.set(f.name, f.seq);
            if (onSeq) onSeq(f.name, f.seq);
          }
        }
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) {
          if (onEnded) onEnded();
          return;
        }
      }
      if (!signal.aborted) poll();
    }, POLL_MS);
  }

  signal.addEventListener("abort", () => { source.close(); clearTimeout(timer); }, {once: true});
}
