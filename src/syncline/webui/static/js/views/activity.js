// A folder's timeline: its changes per day over the last 30 days, drawn, with the numbers behind it.
import {folderUrl, getJSON, query} from "../api.js";
import {barChart} from "../charts.js";
import {fill, h} from "../dom.js";
import {filesHref} from "./files.js";

const KINDS = [{key: "put", label: "files written"}, {key: "delete", label: "deleted"},
               {key: "move", label: "moved or renamed"}, {key: "mkdir", label: "folders made"},
               {key: "meta", label: "other"}];

/** ``#/activity/FOLDER`` */
export async function activityView(main, rest, {signal}) {
  const folder = rest[0];
  document.title = `Activity of ${folder} · syncline`;
  const answer = await getJSON(folderUrl(folder, "/activity" + query({days: 30})), signal);
  const rows = answer.days.map((day) => ({label: day.day,
                                          values: {...day, meta: (day.meta || 0) + (day.symlink || 0)}}));
  const total = answer.days.reduce((sum, day) => sum + day.total, 0);
  fill(main, h("p", {}, h("a", {href: filesHref(folder, "")}, `Back to ${folder}`)),
       h("h1", {}, `Activity of ${folder}`),
       h("p", {class: "note"}, `${total} change${total === 1 ? "" : "s"} in the last 30 days`
         + (answer.kept_from ? ` (the server keeps the details from ${answer.kept_from} on)` : "") + "."),
       barChart({title: `Changes per day in ${folder}, ${answer.days[0].day} to ${answer.days[answer.days.length - 1].day}`,
                 rows, series: KINDS}));
}
