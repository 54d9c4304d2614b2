// Pictures without a framework: bar charts drawn as inline SVG, each with its numbers as a table behind a
// "Show as table" button (for screen readers, and for people who would rather read).
import {h} from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

/**
 * A chart of ``rows`` ([{label, values: {key: number}}]) with one bar per row, stacked by ``series``
 * ([{key, label}]: drawn in the order given, coloured by position). ``format(n)`` writes a value.
 * ``horizontal``: bars across (a few long labels, such as folder names); else columns (days).
 */
export function barChart({title, rows, series, format = String, horizontal = false}) {
  const total = (row) => series.reduce((sum, one) => sum + (Number(row.values[one.key]) || 0), 0);
  const most = Math.max(1, ...rows.map(total));
  let svg;
  if (horizontal) {
    const line = 28;
    svg = s("svg", {viewBox: `0 0 300 ${rows.length * line}`, class: "chart", role: "img",
                    "aria-label": title, preserveAspectRatio: "none"});
    rows.forEach((row, i) => {
      let x = 0;
      series.forEach((one, k) => {
        const w = (300 * (Number(row.values[one.key]) || 0)) / most;
        if (w > 0) svg.append(s("rect", {x, y: i * line + 4, width: w, height: line - 8, class: `series-${k}`}));
        x += w;
      });
    });
  } else {
    const width = Math.max(1, rows.length) * 10;
    svg = s("svg", {viewBox: `0 0 ${width} 100`, class: "chart", role: "img", "aria-label": title,
                    preserveAspectRatio: "none"});
    rows.forEach((row, i) => {
      let y = 100;
      series.forEach((one, k) => {
        const hgt = (100 * (Number(row.values[one.key]) || 0)) / most;
        if (hgt > 0) {
          y -= hgt;
          svg.append(s("rect", {x: i * 10 + 1, y, width: 8, height: hgt, class: `series-${k}`},
                       s("title", {}, `${row.label}: ${format(row.values[one.key])} ${one.label}`)));
        }
      });
    });
  }
  const legend = series.length > 1 ? h("ul", {class: "legend"}, series.map((one, k) =>
    h("li", {}, h("span", {class: `swatch series-${k}`, "aria-hidden": "true"}), one.label))) : null;
  const table = h("table", {hidden: true},
                  h("caption", {}, title),
                  h("thead", {}, h("tr", {}, h("th", {scope: "col"}, ""), series.map((one) => h("th", {scope: "col"}, one.label)))),
                  h("tbody", {}, rows.map((row) => h("tr", {}, h("th", {scope: "row"}, row.label),
                                                     series.map((one) => h("td", {}, format(row.values[one.key] || 0)))))));
  const toggle = h("button", {type: "button", "aria-expanded": "false"}, "Show as table");
  toggle.addEventListener("click", () => {
    table.hidden = !table.hidden;
    toggle.setAttribute("aria-expanded", String(!table.hidden));
    toggle.textContent = table.hidden ? "Show as table" : "Hide the table";
  });
  return h("figure", {class: "figure"}, h("figcaption", {}, title), svg, legend, toggle, table);
}
