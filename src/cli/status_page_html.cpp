// The status page itself: HTML, CSS and script in one string, nothing fetched
// but /status.json from the same server (docs/observability.md).
#include "cli/status_page.h"

namespace meshtrain {

const std::string& StatusPageHtml() {
  static const std::string kPage = R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>meshtrain cluster</title>
<style>
  body { font-family: sans-serif; margin: 16px 20px; color: #222; background: #fafafa; }
  h1 { font-size: 20px; margin: 0 0 4px 0; }
  #summary { margin: 4px 0 12px 0; }
  #updated { color: #666; font-size: 13px; }
  #updated.lost { color: #b00; font-weight: bold; }
  table { border-collapse: collapse; font-size: 14px; background: #fff; }
  th, td { padding: 4px 10px; border-bottom: 1px solid #ddd; text-align: right; white-space: nowrap; }
  th { background: #eee; }
  td.id, td.state, td.event, th.left { text-align: left; }
  .swatch { display: inline-block; width: 10px; height: 10px; margin-right: 6px; border-radius: 2px; }
  .state-training { color: #070; } .state-done { color: #05a; } .state-dead, .state-failed, .state-minority { color: #b00; font-weight: bold; }
  .state-silent, .state-waiting, .state-stopped { color: #a60; }
  .charts { display: flex; flex-wrap: wrap; gap: 16px; margin-top: 16px; }
  .chart-box { background: #fff; border: 1px solid #ddd; padding: 6px; }
  .chart-box h2 { font-size: 14px; margin: 0 0 4px 4px; }
  svg text { font-size: 11px; fill: #555; }
  .legend { font-size: 12px; margin-top: 10px; color: #444; }
  h2.section { font-size: 14px; margin: 16px 0 4px 0; }
  .note { color: #666; font-size: 12px; margin-bottom: 4px; }
  td.link { font-size: 12px; line-height: 1.4; }
  td.no-link { color: #bbb; text-align: center; }
  #events { font-size: 13px; margin-top: 12px; }
  #events li { list-style: none; }
</style>
</head>
<body>
<h1>meshtrain cluster</h1>
<div id="updated">loading...</div>
<div id="summary"></div>
<table id="peers">
  <thead><tr><th class="left">peer</th><th class="left">state</th><th>step</th><th>epoch</th><th>loss</th>
  <th>test acc</th><th>samples/s</th><th>comm</th><th class="left">last event</th></tr></thead>
  <tbody></tbody>
</table>
<h2 class="section">links</h2>
<div class="note">what each peer (row) sent to (&#8593;) and received from (&#8595;) each neighbour (column): bytes,
  and bytes per second between its last two step lines</div>
<table id="links"><thead></thead><tbody></tbody></table>
<div class="charts">
  <div class="chart-box"><h2>training loss</h2><svg id="chart-loss" class="chart" width="540" height="240"></svg></div>
  <div class="chart-box"><h2>test accuracy</h2><svg id="chart-acc" class="chart" width="540" height="240"></svg></div>
</div>
<div class="legend">marks: <span style="color:#c00">&#9474; peer_dead / peer_left</span> &nbsp;
  <span style="color:#888">&#9474; view_change</span> &nbsp; <span style="color:#07a">&#9474; state_sync</span> &nbsp;
  <span style="color:#0a0">&#9474; peer_joined</span> &nbsp; <span style="color:#a60">&#9474; other</span></div>
<ul id="events"></ul>
<script>
"use strict";
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf"];
const MARK_COLORS = { peer_dead: "#c00", peer_left: "#c00", view_change: "#888", state_sync: "#07a",
                      peer_joined: "#0a0" };
const SVG = "http://www.w3.org/2000/svg";
let lastOk = 0;

function fmt(v, digits) { return (v === null || v === undefined || v < 0) ? "-" : Number(v).toFixed(digits); }
function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}
function svgEl(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  return e;
}

function bytes(b) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let u = 0;
  for (; b >= 1024 && u < units.length - 1; ++u) b /= 1024;
  return b.toFixed(u === 0 ? 0 : 1) + " " + units[u];
}

// Rows are peers, columns their neighbours: the peers of the run first, then
// any other id a peer counted (a bootstrap endpoint, "(other)" senders).
function renderLinks(peers) {
  const columns = peers.map(p => p.id);
  for (const p of peers) for (const n of Object.keys(p.links)) if (!columns.includes(n)) columns.push(n);
  const head = document.querySelector("#links thead"), body = document.querySelector("#links tbody");
  while (head.firstChild) head.removeChild(head.firstChild);
  while (body.firstChild) body.removeChild(body.firstChild);
  const hr = el("tr");
  hr.appendChild(el("th", { class: "left" }, "peer"));
  for (const c of columns) hr.appendChild(el("th", {}, c));
  head.appendChild(hr);
  for (const p of peers) {
    const tr = el("tr", { "data-peer": p.id });
    tr.appendChild(el("td", { class: "id" }, p.id));
    // Rates only while a peer trains: a stopped peer's last interval is history.
    const live = p.state === "training" || p.state === "waiting";
    const line = (arrow, total, perS) => arrow + " " + bytes(total) + (live ? " \u00b7 " + bytes(perS) + "/s" : "");
    for (const c of columns) {
      const link = p.links[c];
      if (!link) {
        tr.appendChild(el("td", { class: "no-link" }, c === p.id ? "" : "-"));
        continue;
      }
      const td = el("td", { class: "link", "data-from": p.id, "data-to": c, "data-sent": link.sent,
                            "data-recv": link.recv });
      td.appendChild(el("div", {}, line("\u2191", link.sent, link.sent_per_s)));
      td.appendChild(el("div", {}, line("\u2193", link.recv, link.recv_per_s)));
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

// A round step (1, 2 or 5 times a power of ten) giving about n ticks over span.
function niceStep(span, n) {
  const raw = span / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const f of [1, 2, 5]) if (raw <= f * mag) return f * mag;
  return 10 * mag;
}
// Seconds since the start as "45 s", "12:05" or "3:02:10".
function clock(s) {
  s = Math.round(s);
  if (s < 120) return s + " s";
  const pad = n => String(n).padStart(2, "0");
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
  return (h ? h + ":" + pad(m) : m) + ":" + pad(s % 60);
}

// Marks seen by several peers (each survivor reports a death) are drawn once.
function uniqueMarks(peers) {
  const seen = new Set(), out = [];
  for (const p of peers) {
    for (const [t, name, about] of p.marks) {
      const key = name + "|" + about + "|" + Math.round(t / 3);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ t: t, name: name, about: about, by: p.id });
    }
  }
  return out.sort((a, b) => a.t - b.t);
}

function drawChart(svg, peers, field, marks, t0, t1, fixedRange) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const W = +svg.getAttribute("width"), H = +svg.getAttribute("height");
  const L = 48, R = 10, T = 10, B = 28, w = W - L - R, h = H - T - B;
  let lo = Infinity, hi = -Infinity;
  for (const p of peers) for (const [, v] of p[field]) if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (fixedRange) { lo = Math.min(lo, fixedRange[0]); hi = Math.max(hi, fixedRange[1]); }
  if (!isFinite(lo)) { lo = 0; hi = 1; }
  if (hi - lo < 1e-9) { hi = lo + 1; }
  const span = Math.max(t1 - t0, 1);
  const x = t => L + (t - t0) / span * w, y = v => T + h - (v - lo) / (hi - lo) * h;
  svg.appendChild(svgEl("rect", { x: L, y: T, width: w, height: h, fill: "#fff", stroke: "#ccc" }));
  const vstep = niceStep(hi - lo, 4);
  for (let v = Math.ceil(lo / vstep) * vstep; v <= hi + 1e-12; v += vstep) {
    const yy = y(v);
    svg.appendChild(svgEl("line", { x1: L, x2: L + w, y1: yy, y2: yy, stroke: "#eee" }));
    const label = svgEl("text", { x: L - 4, y: yy + 4, "text-anchor": "end" });
    label.textContent = v.toFixed(Math.max(0, -Math.floor(Math.log10(vstep))));
    svg.appendChild(label);
  }
  const tstep = niceStep(span, 5);
  for (let dt = 0; dt <= span + 1e-9; dt += tstep) {
    const label = svgEl("text", { x: x(t0 + dt), y: H - 10, "text-anchor": "middle" });
    label.textContent = clock(dt);
    svg.appendChild(label);
  }
  for (const m of marks) {
    const mark = svgEl("line", { x1: x(m.t), x2: x(m.t), y1: T, y2: T + h, stroke: MARK_COLORS[m.name] || "#a60",
                                 "stroke-dasharray": "4 3", "stroke-width": m.name === "peer_dead" ? 2 : 1,
                                 class: "mark mark-" + m.name, "data-about": m.about });
    const title = svgEl("title", {});
    title.textContent = m.name + (m.about ? " " + m.about : "") + " (seen by " + m.by + ") at " + clock(m.t - t0);
    mark.appendChild(title);
    svg.appendChild(mark);
    if (m.name === "peer_dead" || m.name === "peer_left" || m.name === "peer_joined") {
      const label = svgEl("text", { x: x(m.t) + 3, y: T + 12, fill: MARK_COLORS[m.name] });
      label.textContent = (m.name === "peer_joined" ? "+" : "\u2020") + m.about;
      svg.appendChild(label);
    }
  }
  peers.forEach((p, i) => {
    const pts = p[field].filter(([, v]) => v !== null).map(([t, v]) => x(t).toFixed(1) + "," + y(v).toFixed(1));
    if (pts.length === 0) return;
    svg.appendChild(svgEl("polyline", { points: pts.join(" "), fill: "none", stroke: COLORS[i % COLORS.length],
                                        "stroke-width": 1.5, class: "series", "data-peer": p.id }));
  });
}

function render(s) {
  const peers = s.peers;
  const summary = document.getElementById("summary");
  const view = s.view ? "view " + (s.view.id >= 0 ? s.view.id + " " : "") + "[" + s.view.members.join(", ") +
                        "] (as " + s.view.seen_by + " sees it)" : "no view yet";
  summary.textContent = peers.length + " peers \u00b7 " + view + " \u00b7 straggler: " + (s.straggler || "-");
  const body = document.querySelector("#peers tbody");
  while (body.firstChild) body.removeChild(body.firstChild);
  peers.forEach((p, i) => {
    const tr = el("tr", { class: "peer-row", "data-peer": p.id, "data-state": p.state });
    const id = el("td", { class: "id" });
    id.appendChild(el("span", { class: "swatch", style: "background:" + COLORS[i % COLORS.length] }));
    id.appendChild(document.createTextNode(p.id));
    tr.appendChild(id);
    tr.appendChild(el("td", { class: "state state-" + p.state }, p.state));
    tr.appendChild(el("td", {}, String(p.step)));
    tr.appendChild(el("td", {}, String(p.epoch)));
    tr.appendChild(el("td", {}, fmt(p.loss, 4)));
    tr.appendChild(el("td", {}, fmt(p.test_acc, 4)));
    tr.appendChild(el("td", {}, fmt(p.samples_per_s, 0)));
    tr.appendChild(el("td", {}, Math.round(100 * p.comm_share) + "%"));
    tr.appendChild(el("td", { class: "event" }, p.last_event || ""));
    body.appendChild(tr);
  });
  renderLinks(peers);
  let t0 = Infinity, t1 = -Infinity;
  for (const p of peers) {
    for (const series of [p.loss_series, p.acc_series]) for (const [t] of series) { t0 = Math.min(t0, t); t1 = Math.max(t1, t); }
  }
  const marks = uniqueMarks(peers);
  for (const m of marks) { t0 = Math.min(t0, m.t); t1 = Math.max(t1, m.t); }
  if (!isFinite(t0)) { t0 = s.now; t1 = s.now; }
  drawChart(document.getElementById("chart-loss"), peers, "loss_series", marks, t0, t1, null);
  drawChart(document.getElementById("chart-acc"), peers, "acc_series", marks, t0, t1, null);
  const events = document.getElementById("events");
  while (events.firstChild) events.removeChild(events.firstChild);
  for (const m of marks.filter(m => m.name !== "view_change").slice(-12).reverse()) {
    events.appendChild(el("li", { class: "event-" + m.name }, clock(m.t - t0) + ": " + m.name +
                          (m.about ? " " + m.about : "") + " (seen by " + m.by + ")"));
  }
}

async function refresh() {
  const updated = document.getElementById("updated");
  try {
    const r = await fetch("status.json", { cache: "no-store" });
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json());
    lastOk = Date.now();
    updated.className = "";
    updated.textContent = "updated " + new Date(lastOk).toLocaleTimeString() + " (every 2 s)";
  } catch (e) {
    updated.className = "lost";
    updated.textContent = "cannot reach meshtrain watch (" + e.message + ")" +
                          (lastOk ? "; showing what it said at " + new Date(lastOk).toLocaleTimeString() : "");
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
)html";
  return kPage;
}

}  // namespace meshtrain
