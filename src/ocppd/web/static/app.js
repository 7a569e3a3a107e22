/* ocppd dashboard: live regions over Server-Sent Events, API forms, and small canvas charts (station
   power, transaction power/energy, charging schedules), each with a data table for screen readers.
   No framework and no build step; everything the page needs is served by `ocppd serve`. */
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
const stationId = () => document.body.dataset.station || "";

// ------------------------------------------------------------------ API calls
async function api(method, url, body) {
  const init = { method, headers: { "X-CSRF-Token": csrf(), Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(url, init);
  let data = null;
  if (res.status !== 204) {
    const text = await res.text();
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (!res.ok) {
    const msg = data && data.detail ? data.detail : `HTTP ${res.status}`;
    const err = new Error(msg);
    err.status = res.status;
    throw err;
  }
  return data;
}

function fieldValue(el) {
  const type = el.dataset.type;
  if (el.type === "checkbox") return el.checked;
  const raw = el.value.trim();
  if (raw === "") return undefined;
  if (type === "int") return parseInt(raw, 10);
  if (type === "float") return parseFloat(raw);
  if (type === "bool") return raw === "true";
  if (type === "list") return raw.split(",").map((s) => s.trim()).filter(Boolean);
  if (type === "ids") return raw.split(/[\s,;]+/).filter(Boolean);
  if (type === "json") return JSON.parse(raw);
  if (type === "periods") return parsePeriods(raw);
  if (el.type === "datetime-local") return raw.length === 16 ? raw + ":00Z" : raw + "Z";
  return raw;
}

// "0:11000, 1800:7400" (seconds from the start : limit) -> [{start_s, limit}, ...]
function parsePeriods(raw) {
  const periods = raw.split(/[,;\n]+/).map((s) => s.trim()).filter(Boolean).map((part) => {
    const m = part.match(/^(\d+)\s*[:=]\s*(\d+(?:\.\d+)?)$/);
    if (!m) throw new Error(`"${part}" is not start:limit (e.g. 0:11000)`);
    return { start_s: parseInt(m[1], 10), limit: parseFloat(m[2]) };
  });
  if (!periods.length) throw new Error("at least one period (e.g. 0:11000)");
  return periods;
}

// "profile.unit" -> body.profile.unit
function setPath(target, name, value) {
  const keys = name.split(".");
  let node = target;
  for (const key of keys.slice(0, -1)) node = node[key] = node[key] || {};
  node[keys[keys.length - 1]] = value;
}

function buildRequest(source) {
  const [method, template] = source.dataset.api.split(" ");
  const form = source.tagName === "FORM" ? source : null;
  const used = new Set();
  const url = template.replace(/\{(\w+)\}/g, (_, name) => {
    used.add(name);
    return encodeURIComponent(form.elements[name].value);
  });
  let body;
  if (source.dataset.json) body = JSON.parse(source.dataset.json);
  else if (form && form.dataset.body) body = fieldValue(form.elements[form.dataset.body]) ?? {};
  else if (form) {
    body = {};
    for (const el of form.elements) {
      if (!el.name || used.has(el.name)) continue;
      const v = fieldValue(el);
      if (v !== undefined) setPath(body, el.name, v);
    }
  }
  if (body === undefined && method !== "GET" && method !== "DELETE") body = {};
  return { method, url, body };
}

function describe(data) {
  if (data && data.response !== undefined) {
    return `${data.action}: ${JSON.stringify(data.response)}`;
  }
  return data ? "Done: " + JSON.stringify(data).slice(0, 300) : "Done.";
}

function flash(text, ok) {
  const el = document.getElementById("flash");
  if (!el) return;
  el.textContent = text;
  el.classList.toggle("fail", !ok);
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => { el.textContent = ""; }, 8000);
}

async function runApi(source, trigger) {
  const confirmText = (trigger && trigger.dataset.confirm) || source.dataset.confirm;
  if (confirmText && !window.confirm(confirmText)) return;
  const form = source.tagName === "FORM" ? source : null;
  const out = form ? form.querySelector("output.result") : null;
  const buttons = form ? form.querySelectorAll("button") : [source];
  let req;
  try {
    req = buildRequest(source);
  } catch (e) {
    report(out, `Invalid input: ${e.message}`, false);
    return;
  }
  buttons.forEach((b) => { b.disabled = true; });
  if (out) { out.textContent = "Sending…"; out.className = "result"; }
  try {
    const data = await api(req.method, req.url, req.body);
    report(out, describe(data), true);
    if (form && form.dataset.schedule !== "preview") showSchedule(form, scheduleOf(data), "Schedule the station returned");
    const after = source.dataset.after;
    if (after === "reload") setTimeout(() => location.reload(), 400);
    else refreshAll();
  } catch (e) {
    report(out, `Failed (${e.status || "network"}): ${e.message}`, false);
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

function report(out, text, ok) {
  if (out) {
    out.textContent = text;
    out.className = "result " + (ok ? "ok" : "fail");
  } else {
    flash(text, ok);
  }
}

document.addEventListener("submit", (ev) => {
  const form = ev.target;
  if (!form.dataset || !form.dataset.api) return;
  ev.preventDefault();
  runApi(form, ev.submitter);
});

// ------------------------------------------------------------------ file uploads with progress
// <form data-upload="/api/v1/firmware">: the fields as multipart/form-data (text fields first, the file
// last, as the API reads them), sent with XMLHttpRequest because fetch() reports no upload progress.
function upload(form) {
  const out = form.querySelector("output.result");
  const bar = form.querySelector("progress");
  const button = form.querySelector("button[type=submit]");
  const data = new FormData();
  const files = [];
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === "file") { if (el.files[0]) files.push([el.name, el.files[0]]); }
    else if (el.value.trim() !== "") data.append(el.name, el.value.trim());
  }
  files.forEach(([name, file]) => data.append(name, file, file.name));
  const xhr = new XMLHttpRequest();
  xhr.open("POST", form.dataset.upload);
  xhr.setRequestHeader("X-CSRF-Token", csrf());
  xhr.setRequestHeader("Accept", "application/json");
  xhr.upload.onprogress = (ev) => {
    if (!ev.lengthComputable) return;
    bar.value = Math.round((ev.loaded / ev.total) * 100);
    report(out, `Uploading… ${bar.value} %`, true);
  };
  xhr.onload = () => {
    button.disabled = false;
    let body = null;
    try { body = JSON.parse(xhr.responseText); } catch { body = null; }
    if (xhr.status >= 200 && xhr.status < 300) {
      bar.value = 100;
      report(out, `Stored ${body.name} (${body.size} bytes, SHA-256 ${body.sha256.slice(0, 12)}…)`, true);
      setTimeout(() => location.reload(), 600);
    } else {
      report(out, `Failed (${xhr.status}): ${body && body.detail ? body.detail : xhr.statusText}`, false);
    }
  };
  xhr.onerror = () => { button.disabled = false; report(out, "Failed (network): the upload broke off", false); };
  bar.hidden = false;
  bar.value = 0;
  button.disabled = true;
  xhr.send(data);
}

document.addEventListener("submit", (ev) => {
  const form = ev.target;
  if (!form.dataset || !form.dataset.upload) return;
  ev.preventDefault();
  upload(form);
});

// The campaign form: append the ids of the stations a search finds (a group by vendor, model or id).
document.addEventListener("click", async (ev) => {
  if (ev.target.id !== "c-add-matching") return;
  ev.preventDefault();
  const form = ev.target.form;
  const query = form.querySelector("#c-match").value.trim();
  const box = form.elements.stations;
  const out = form.querySelector("output.result");
  try {
    const found = await api("GET", "/api/v1/stations?limit=1000&q=" + encodeURIComponent(query));
    const ids = box.value.split(/[\s,;]+/).filter(Boolean);
    for (const s of found) if (!ids.includes(s.station_id)) ids.push(s.station_id);
    box.value = ids.join("\n");
    report(out, `${found.length} stations match; ${ids.length} in the campaign`, true);
  } catch (e) {
    report(out, `Failed (${e.status || "network"}): ${e.message}`, false);
  }
});

// <input type="file" data-pem-into="ID">: the chosen file's text goes into the textarea ID (a certificate
// to install is sent as PEM text in the JSON body, like one pasted there). The file input has no name,
// so it is not sent itself.
document.addEventListener("change", async (ev) => {
  const input = ev.target;
  if (!input.dataset || !input.dataset.pemInto || !input.files[0]) return;
  document.getElementById(input.dataset.pemInto).value = await input.files[0].text();
});

document.addEventListener("click", (ev) => {
  const btn = ev.target.closest("button[data-api]");
  if (!btn || btn.form) return;
  ev.preventDefault();
  runApi(btn, btn);
});

// ------------------------------------------------------------------ live regions
const dirty = new Set();
let refreshTimer = null;

function regions() {
  return Array.from(document.querySelectorAll("[data-live]"));
}

function markDirty(type) {
  for (const region of regions()) {
    const prefixes = (region.dataset.liveOn || "").split(",").filter(Boolean);
    if (prefixes.length === 0 || prefixes.some((p) => type.startsWith(p))) dirty.add(region.dataset.live);
  }
  if (dirty.size && !refreshTimer) refreshTimer = setTimeout(flushRefresh, 700);
}

function refreshAll() {
  regions().forEach((r) => dirty.add(r.dataset.live));
  if (!refreshTimer) refreshTimer = setTimeout(flushRefresh, 100);
  const body = liveRows();
  if (body) {
    body.querySelectorAll("tr[data-station-row]").forEach((tr) => dirtyRows.add(tr.dataset.stationRow));
    if (!rowsTimer) rowsTimer = setTimeout(flushRows, 100);
  }
  charts.forEach((c) => c.load());
}

// ------------------------------------------------------------------ live rows
// A long list (the stations page) is not re-fetched as a whole: its <tbody data-live-rows="block">
// asks the server for just the rows of the stations events concerned (?fragment=block&ids=a,b), at
// most one request per 0.7 s, replaces them, drops rows that no longer match the page's filters,
// and inserts a new station's row when its id falls on this page (data-after: the id the page
// starts after; data-more: a next page exists, so the page ends at its last row).
const dirtyRows = new Set();
let rowsTimer = null;
const ROWS_PER_REQUEST = 50;

function liveRows() {
  return document.querySelector("tbody[data-live-rows]");
}

function rowOf(body, id) {
  return body.querySelector(`tr[data-station-row="${CSS.escape(id)}"]`);
}

function onThisPage(body, id) {
  if (body.dataset.after && id <= body.dataset.after) return false;
  if (!body.dataset.more) return true;
  const rows = body.querySelectorAll("tr[data-station-row]");
  return rows.length > 0 && id < rows[rows.length - 1].dataset.stationRow;
}

function markRow(type, stationId) {
  const body = liveRows();
  if (!body || !stationId) return;
  const prefixes = (body.dataset.liveOn || "").split(",").filter(Boolean);
  if (prefixes.length && !prefixes.some((p) => type.startsWith(p))) return;
  if (!rowOf(body, stationId) && !onThisPage(body, stationId)) return;
  dirtyRows.add(stationId);
  if (!rowsTimer) rowsTimer = setTimeout(flushRows, 700);
}

function insertSorted(body, row) {
  const id = row.dataset.stationRow;
  const next = Array.from(body.querySelectorAll("tr[data-station-row]")).find((tr) => tr.dataset.stationRow > id);
  body.insertBefore(row, next || null);
}

async function flushRows() {
  rowsTimer = null;
  const body = liveRows();
  if (!body || !dirtyRows.size) return;
  if (body.contains(document.activeElement) && document.activeElement !== document.body) {
    rowsTimer = setTimeout(flushRows, 2000); // don't yank the row the keyboard user is on
    return;
  }
  const ids = Array.from(dirtyRows).slice(0, ROWS_PER_REQUEST);
  ids.forEach((id) => dirtyRows.delete(id));
  const url = new URL(location.href);
  url.searchParams.delete("cursor");
  url.searchParams.set("fragment", body.dataset.liveRows);
  url.searchParams.set("ids", ids.join(","));
  try {
    const res = await fetch(url, { credentials: "same-origin" });
    if (res.redirected || res.status === 401) { location.reload(); return; }
    if (res.ok) {
      const holder = document.createElement("template");
      holder.innerHTML = `<table><tbody>${await res.text()}</tbody></table>`;
      const fresh = new Map();
      holder.content.querySelectorAll("tr[data-station-row]").forEach((tr) => fresh.set(tr.dataset.stationRow, tr));
      for (const id of ids) {
        const shown = rowOf(body, id);
        const row = fresh.get(id);
        if (shown && row) shown.replaceWith(row);
        else if (shown) shown.remove(); // it no longer matches this page's filters (or was deleted)
        else if (row && onThisPage(body, id)) insertSorted(body, row);
      }
      const empty = body.querySelector("tr[data-empty]");
      if (empty) empty.hidden = body.querySelector("tr[data-station-row]") !== null;
    }
  } catch { /* the stream reconnects; the next event refreshes */ }
  if (dirtyRows.size && !rowsTimer) rowsTimer = setTimeout(flushRows, 700);
}

async function flushRefresh() {
  refreshTimer = null;
  const names = Array.from(dirty);
  dirty.clear();
  for (const name of names) {
    const region = document.querySelector(`[data-live="${name}"]`);
    if (!region) continue;
    if (region.contains(document.activeElement) && document.activeElement !== document.body) {
      dirty.add(name); // don't yank the element the keyboard user is on; try again shortly
      continue;
    }
    const url = new URL(location.href);
    url.searchParams.set("fragment", name);
    try {
      const res = await fetch(url, { credentials: "same-origin" });
      if (res.redirected || res.status === 401) { location.reload(); return; }
      if (res.ok) region.innerHTML = await res.text();
    } catch { /* the stream reconnects; the next event refreshes */ }
  }
  if (dirty.size && !refreshTimer) refreshTimer = setTimeout(flushRefresh, 2000);
}

function connectEvents() {
  if (!document.getElementById("live-indicator")) return;
  const indicator = document.getElementById("live-indicator");
  const url = "/api/v1/events" + (stationId() ? "?station=" + encodeURIComponent(stationId()) : "");
  const source = new EventSource(url, { withCredentials: true });
  const types = ["station.connected", "station.disconnected", "station.booted", "status.changed",
    "transaction.started", "transaction.updated", "transaction.ended", "meter.values",
    "security.event", "station.notification", "profile.sent", "profile.drift", "smart.excluded",
    "availability.changed", "reset.changed", "display_message.changed", "customer_information.changed",
    "customer_information.reported", "firmware.status", "firmware.campaign", "firmware.campaign.station",
    "log.status", "log.uploaded", "certificate.installed", "certificate.refused", "certificate.rejected",
    "certificate.sign_failed", "certificate.install", "certificate.revoked"];
  source.onopen = () => {
    indicator.textContent = "live";
    indicator.className = "live on";
  };
  source.onerror = () => {
    indicator.textContent = "reconnecting…";
    indicator.className = "live off";
  };
  for (const type of types) {
    source.addEventListener(type, (ev) => {
      markDirty(type);
      const detail = JSON.parse(ev.data);
      markRow(type, detail.station_id);
      charts.forEach((c) => { if (c.wants(detail)) c.schedule(); });
      document.dispatchEvent(new CustomEvent("ocppd:event", { detail }));
    });
  }
}

// ------------------------------------------------------------------ charts
// One canvas drawing routine for every chart: step or line series on a left and an optional right
// axis. Each chart also fills a <table> (inside <details>) with the same numbers, and describes
// itself in the canvas's aria-label.
const COLORS = { power: "#0b5cad", energy: "#9a4d00", limit: "#116329" };

function niceStep(raw) {
  if (!(raw > 0)) return 1;
  const exp = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * exp >= raw) return m * exp;
  return 10 * exp;
}

function fmtNum(v, step) {
  const digits = Number.isInteger(step) ? 0 : step >= 0.1 ? 1 : 2;
  return v.toFixed(digits);
}

const kw = (w) => (w == null ? "–" : (w / 1000).toFixed(2));
const kwh = (wh) => (wh == null ? "–" : (wh / 1000).toFixed(3));

function fmtClock(t, span) {
  const opts = { hour: "2-digit", minute: "2-digit" };
  if (span < 30 * 60000) opts.second = "2-digit";
  if (span > 20 * 3600000) { opts.month = "2-digit"; opts.day = "2-digit"; }
  return new Date(t).toLocaleString([], opts);
}

function fmtOffset(ms, span) {
  const s = Math.round(ms / 1000);
  if (span <= 2 * 3600000) return `+${Math.round(s / 60)} min`;
  return `+${(s / 3600).toFixed(s % 3600 ? 1 : 0)} h`;
}

// spec: {x0, x1 (ms), xLabel(t, span), empty, left: {unit}, right?: {unit, color},
//        series: [{points: [{t, v}], color, axis: "left"|"right", step, fill, dash, end?}]}
// A step series holds each value until the next point (or `end`); a null value is a gap.
function drawChart(c, spec) {
  const ratio = window.devicePixelRatio || 1;
  const width = c.clientWidth || 640;
  const height = c.clientHeight || 240;
  c.width = Math.round(width * ratio);
  c.height = Math.round(height * ratio);
  const g = c.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  g.font = "12px system-ui, sans-serif";
  g.textBaseline = "alphabetic";
  const hasRight = Boolean(spec.right) && spec.series.some((s) => s.axis === "right");
  const left = 52, right = hasRight ? 60 : 12, top = 10, bottom = 26;
  const w = Math.max(10, width - left - right), h = Math.max(10, height - top - bottom);
  const axes = {};
  for (const side of hasRight ? ["left", "right"] : ["left"]) {
    const values = spec.series.filter((s) => (s.axis || "left") === side)
      .flatMap((s) => s.points.map((p) => p.v)).filter((v) => v != null && Number.isFinite(v));
    const max = Math.max(spec[side].min || 1, ...values) * 1.15;
    axes[side] = { max, step: niceStep(max / 4) };
  }
  const x0 = spec.x0;
  const x1 = spec.x1 > spec.x0 ? spec.x1 : spec.x0 + 60000;
  const x = (t) => left + ((t - x0) / (x1 - x0)) * w;
  const y = (side, v) => top + h - (Math.max(0, v) / axes[side].max) * h;
  g.lineWidth = 1;
  g.strokeStyle = "#d0d7de";
  g.fillStyle = "#57606a";
  const L = axes.left;
  for (let v = 0; v <= L.max; v += L.step) {
    g.beginPath();
    g.moveTo(left, y("left", v));
    g.lineTo(left + w, y("left", v));
    g.stroke();
    g.fillText(`${fmtNum(v, L.step)} ${spec.left.unit}`, 4, y("left", v) + 4);
  }
  if (hasRight) {
    const R = axes.right;
    g.fillStyle = spec.right.color || "#57606a";
    for (let v = 0; v <= R.max; v += R.step) g.fillText(`${fmtNum(v, R.step)} ${spec.right.unit}`, left + w + 6, y("right", v) + 4);
  }
  const hasData = spec.series.some((s) => s.points.some((p) => p.v != null));
  g.fillStyle = "#57606a";
  if (!hasData) {
    g.fillText(spec.empty || "No data", left + 10, top + h / 2);
    return;
  }
  // Time labels: both ends, and the middle where there is room.
  const span = x1 - x0;
  const ticks = width < 420 ? [x0, x1] : [x0, x0 + span / 2, x1];
  ticks.forEach((t, i) => {
    const label = spec.xLabel(t, span);
    const tw = g.measureText(label).width;
    const at = i === 0 ? left : i === ticks.length - 1 ? left + w - tw : x(t) - tw / 2;
    g.fillText(label, at, height - 6);
  });
  g.save();
  g.beginPath();
  g.rect(left - 2, top - 2, w + 4, h + 4); // nothing outside the plot area
  g.clip();
  for (const s of spec.series) drawSeries(g, s, x, (v) => y(s.axis || "left", v), y(s.axis || "left", 0));
  g.restore();
}

function drawSeries(g, s, x, y, base) {
  // Split into runs of non-null values; each run is one stroked (and optionally filled) path.
  const runs = [];
  let run = null;
  s.points.forEach((p, i) => {
    const next = s.points[i + 1];
    if (p.v == null) { run = null; return; }
    if (!run) { run = []; runs.push(run); }
    run.push([x(p.t), y(p.v)]);
    if (s.step) {
      const until = next ? next.t : s.end;
      if (until != null) run.push([x(until), y(p.v)]);
    }
  });
  for (const r of runs) {
    g.beginPath();
    r.forEach(([px, py], i) => (i === 0 ? g.moveTo(px, py) : g.lineTo(px, py)));
    g.setLineDash(s.dash || []);
    g.strokeStyle = s.color;
    g.lineWidth = 2;
    g.stroke();
    if (s.fill && r.length > 1) {
      g.setLineDash([]);
      g.lineTo(r[r.length - 1][0], base);
      g.lineTo(r[0][0], base);
      g.closePath();
      g.fillStyle = s.fill;
      g.fill();
    }
  }
  g.setLineDash([]);
}

function fillTable(table, rows) {
  if (!table) return;
  const body = document.createElement("tbody");
  for (const cells of rows) {
    const tr = document.createElement("tr");
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (i > 0) td.className = "num";
      tr.appendChild(td);
    });
    body.appendChild(tr);
  }
  table.querySelector("tbody")?.remove();
  table.appendChild(body);
  table.dataset.rows = String(rows.length);
}

// Base for the charts that load from the API: throttled reloads, redraw on resize, a table that
// is (re)built only while its <details> is open.
class ApiChart {
  constructor(figure) {
    this.figure = figure;
    this.canvas = figure.querySelector("canvas");
    this.table = figure.querySelector("table");
    this.details = figure.querySelector("details");
    this.timer = null;
    this.data = null;
    window.addEventListener("resize", () => this.draw());
    this.details?.addEventListener("toggle", () => this.fill());
  }

  wants() { return false; }

  schedule() {
    if (!this.timer) this.timer = setTimeout(() => { this.timer = null; this.load(); }, 500);
  }

  async load() {
    try {
      this.data = await api("GET", this.url());
    } catch {
      return; // keep the last picture
    }
    this.update();
    this.draw();
    this.fill();
  }

  fill() {
    if (this.data && (!this.details || this.details.open)) fillTable(this.table, this.rows());
  }

  draw() {}
}

class StationPowerChart extends ApiChart {
  constructor(figure, station) {
    super(figure);
    this.station = station;
    this.points = [];
  }

  url() { return `/api/v1/stations/${encodeURIComponent(this.station)}/power`; }

  wants(event) {
    return event.type === "meter.values" || event.type.startsWith("transaction.") || event.type === "station.disconnected";
  }

  update() {
    const data = this.data;
    this.points = data.series.map((p) => ({ t: new Date(p.at).getTime(), v: p.power_w / 1000, source: p.source }));
    this.canvas.dataset.points = String(this.points.length);
    const peak = Math.max(0, ...this.points.map((p) => p.v));
    this.canvas.setAttribute("aria-label",
      `Power of ${this.station} over the last ${Math.round(data.window_s / 60)} min: now ${(data.power_w / 1000).toFixed(1)} kW, ` +
      `peak ${peak.toFixed(1)} kW, ${this.points.length} points`);
    const caption = document.getElementById("power-history");
    if (caption) {
      caption.textContent = data.history_until
        ? `Before ${fmtClock(new Date(data.history_until).getTime(), 0)}: stored readings, averaged per ${data.bucket_s} s.`
        : "";
    }
  }

  rows() {
    return this.points.map((p) => [fmtClock(p.t, 0), p.v.toFixed(2), p.source === "stored" ? "stored" : "live"]);
  }

  draw() {
    const pts = this.points;
    const now = Date.now();
    const x0 = pts.length ? pts[0].t : now - 60000;
    const x1 = Math.max(pts.length ? pts[pts.length - 1].t : 0, x0 + 60000); // at least a minute wide
    drawChart(this.canvas, {
      x0, x1, xLabel: fmtClock, empty: "No power readings yet", left: { unit: "kW" },
      series: [{ points: pts, color: COLORS.power, step: true, fill: "rgba(11, 92, 173, 0.12)" }],
    });
  }
}

class TransactionChart extends ApiChart {
  constructor(figure) {
    super(figure);
    this.live = figure.dataset.active === "true";
    this.uid = figure.dataset.transaction;
  }

  url() { return this.figure.dataset.src; }

  wants(event) {
    if (!this.live || String(event.transaction_id) !== this.uid) return false;
    if (event.type === "transaction.ended") this.live = false; // one last load, then no more
    return event.type === "meter.values" || event.type.startsWith("transaction.");
  }

  update() {
    const d = this.data;
    const series = d.series.map((p) => ({ t: new Date(p.at).getTime(), w: p.power_w, e: p.energy_wh }));
    this.series = series;
    this.canvas.dataset.points = String(series.length);
    const started = new Date(d.started_at).getTime();
    const last = series.length ? series[series.length - 1].t : started;
    this.x0 = Math.min(started, series.length ? series[0].t : started);
    this.x1 = d.stopped_at ? Math.max(new Date(d.stopped_at).getTime(), last) : last;
    const span = this.x1 - this.x0;
    this.canvas.setAttribute("aria-label",
      `Power and energy of transaction ${d.transaction_id}: peak ${kw(d.max_power_w)} kW, ` +
      `${kwh(d.energy_wh)} kWh delivered, ${series.length} readings from ${fmtClock(this.x0, span)} to ${fmtClock(this.x1, span)}`);
  }

  rows() {
    const span = this.x1 - this.x0;
    return this.series.map((p) => [fmtClock(p.t, span), kw(p.w), kwh(p.e)]);
  }

  draw() {
    if (!this.series) return;
    drawChart(this.canvas, {
      x0: this.x0, x1: this.x1, xLabel: fmtClock, empty: "No meter readings with power or energy",
      left: { unit: "kW" }, right: { unit: "kWh", color: COLORS.energy, min: 0.1 },
      series: [
        { points: this.series.map((p) => ({ t: p.t, v: p.w == null ? null : p.w / 1000 })), color: COLORS.power,
          step: true, fill: "rgba(11, 92, 173, 0.12)", end: this.x1 },
        { points: this.series.filter((p) => p.e != null).map((p) => ({ t: p.t, v: p.e / 1000 })), color: COLORS.energy,
          axis: "right", dash: [6, 4] },
      ],
    });
  }
}

// Energy and revenue per day or month (the billing page): one step per period, missing periods drawn
// as zero, revenue in the currency that earned most (others are listed in the table).
function periodStart(p) {
  const [y, m, d] = p.split("-").map(Number);
  return Date.UTC(y, m - 1, d || 1);
}

function nextPeriod(t, month) {
  const at = new Date(t);
  return month ? Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1) : t + 86400000;
}

class BillingChart extends ApiChart {
  constructor(figure) {
    super(figure);
    this.month = figure.dataset.period === "month";
  }

  url() { return this.figure.dataset.src; }

  wants(event) { return event.type === "transaction.ended"; }

  update() {
    const byCurrency = {};
    for (const r of this.data) if (r.currency) byCurrency[r.currency] = (byCurrency[r.currency] || 0) + Number(r.incl_vat);
    this.currency = Object.keys(byCurrency).sort((a, b) => byCurrency[b] - byCurrency[a])[0] || null;
    const periods = new Map();
    for (const r of this.data) {
      const t = periodStart(r.period);
      const p = periods.get(t) || { t, label: r.period, sessions: 0, wh: 0, revenue: 0, money: [] };
      p.sessions += r.transactions;
      p.wh += r.energy_wh;
      if (r.currency === this.currency) p.revenue += Number(r.incl_vat);
      if (r.currency) p.money.push(`${r.incl_vat} ${r.currency}`);
      periods.set(t, p);
    }
    const known = [...periods.values()].sort((a, b) => a.t - b.t);
    this.points = [];
    if (known.length) {
      for (let t = known[0].t; t <= known[known.length - 1].t; t = nextPeriod(t, this.month)) {
        this.points.push(periods.get(t) || { t, label: new Date(t).toISOString().slice(0, this.month ? 7 : 10),
                                             sessions: 0, wh: 0, revenue: 0, money: [] });
      }
    }
    this.canvas.dataset.points = String(this.points.length);
    const cur = document.getElementById("billing-currency");
    if (cur) cur.textContent = this.currency || "–";
    const wh = this.points.reduce((a, p) => a + p.wh, 0);
    const revenue = this.points.reduce((a, p) => a + p.revenue, 0);
    const span = this.points.length ? `${this.points[0].label} to ${this.points[this.points.length - 1].label}` : "no data";
    this.canvas.setAttribute("aria-label",
      `Energy and revenue per ${this.month ? "month" : "day"}, ${span}: ${kwh(wh)} kWh, ` +
      `${revenue.toFixed(2)} ${this.currency || ""} incl. VAT, ${this.points.length} periods`);
  }

  rows() {
    return this.points.map((p) => [p.label, String(p.sessions), kwh(p.wh), p.money.join("; ") || "–"]);
  }

  draw() {
    if (!this.points) return;
    const pts = this.points;
    const x0 = pts.length ? pts[0].t : Date.now() - 86400000;
    const x1 = pts.length ? nextPeriod(pts[pts.length - 1].t, this.month) : Date.now();
    const label = (t) => new Date(t).toISOString().slice(0, this.month ? 7 : 10);
    drawChart(this.canvas, {
      x0, x1, xLabel: label, empty: "No priced sessions in this range",
      left: { unit: "kWh", min: 0.1 }, right: { unit: this.currency || "", color: COLORS.energy, min: 0.1 },
      series: [
        { points: pts.map((p) => ({ t: p.t, v: p.wh / 1000 })), color: COLORS.power, step: true,
          fill: "rgba(11, 92, 173, 0.12)", end: x1 },
        { points: pts.map((p) => ({ t: p.t, v: p.revenue })), color: COLORS.energy, axis: "right", step: true,
          dash: [6, 4], end: x1 },
      ],
    });
  }
}

// A chart of a few series the page was rendered with (ocppd.web.charts.time_chart):
// <figure data-series='{"unit", "x0", "x1", "empty", "series": [{name, kind, step, end, points: [[ms, v]]}]}'>.
// The OSCP page (capacity forecast against the draw) and the local controller's status page use it.
const KIND_STYLE = {
  limit: { color: COLORS.limit },
  measured: { color: COLORS.power, fill: "rgba(11, 92, 173, 0.12)" },
  allocated: { color: COLORS.energy, dash: [6, 4] },
  fallback: { color: "#8250df", dash: [2, 3] },
};

class SeriesChart {
  constructor(figure) {
    this.figure = figure;
    this.canvas = figure.querySelector("canvas");
    this.table = figure.querySelector("table");
    this.spec = JSON.parse(figure.dataset.series);
    const lines = this.spec.series;
    this.canvas.dataset.points = String(lines.reduce((n, line) => n + line.points.filter(([, v]) => v != null).length, 0));
    const span = this.spec.x1 - this.spec.x0;
    const last = (line) => [...line.points].reverse().find(([, v]) => v != null);
    const now = lines.map((line) => {
      const p = last(line);
      return `${line.name} ${p ? `${fmtNum(p[1], 0.1)} ${this.spec.unit} at ${fmtClock(p[0], span)}` : "none"}`;
    });
    this.canvas.setAttribute("aria-label", `${this.canvas.getAttribute("aria-label")}: ${now.join("; ")}`);
    const caption = figure.querySelector("figcaption");
    if (caption) {
      const legend = document.createElement("span");
      legend.className = "legend";
      for (const line of lines) {
        const style = KIND_STYLE[line.kind] || KIND_STYLE.limit;
        const item = document.createElement("span");
        const key = document.createElement("span");
        key.className = "key";
        key.style.borderColor = style.color; // CSSOM, which the Content-Security-Policy allows
        if (style.dash) key.style.borderTopStyle = "dashed";
        item.append(key, " ", line.name);
        legend.append(item);
      }
      caption.prepend(legend);
    }
    window.addEventListener("resize", () => this.draw());
  }

  wants() { return false; }

  schedule() {}

  load() {
    this.draw();
    const span = this.spec.x1 - this.spec.x0;
    const rows = this.spec.series.flatMap((line) => line.points.filter(([, v]) => v != null)
      .map(([t, v]) => ({ t, cells: [fmtClock(t, span), line.name, fmtNum(v, 0.1)] })));
    fillTable(this.table, rows.sort((a, b) => a.t - b.t).map((r) => r.cells));
  }

  draw() {
    const s = this.spec;
    drawChart(this.canvas, {
      x0: s.x0, x1: s.x1, xLabel: fmtClock, empty: s.empty, left: { unit: s.unit },
      series: s.series.map((line) => ({
        ...(KIND_STYLE[line.kind] || KIND_STYLE.limit), step: line.step, end: line.end ?? undefined,
        points: line.points.map(([t, v]) => ({ t, v })),
      })),
    });
  }
}

// ------------------------------------------------------------------ charging schedules
// A GetCompositeSchedule answer (1.6 `chargingSchedule`, 2.0.1/2.1 `schedule`), typed or raw.
function scheduleOf(data) {
  const resp = data && typeof data === "object" && data.response !== undefined ? data.response : data;
  if (!resp || typeof resp !== "object") return null;
  const s = resp.chargingSchedule || resp.schedule;
  if (!s || !Array.isArray(s.chargingSchedulePeriod) || !s.chargingSchedulePeriod.length) return null;
  return {
    start: s.startSchedule || s.scheduleStart || resp.scheduleStart || null,
    unit: s.chargingRateUnit || "W",
    duration: s.duration,
    periods: s.chargingSchedulePeriod,
    evse: resp.connectorId ?? s.evseId,
  };
}

function scheduleFigure(host) {
  let fig = host.querySelector("figure.schedule");
  if (fig) return fig;
  const n = (scheduleFigure.count = (scheduleFigure.count || 0) + 1);
  fig = document.createElement("figure");
  fig.className = "chart schedule";
  fig.innerHTML = `<canvas role="img" height="200"></canvas>
    <figcaption class="muted"></figcaption>
    <details><summary>Schedule as a table</summary><div class="scroll">
      <table><caption class="sr-only"></caption>
        <thead><tr><th scope="col">From</th><th scope="col" class="num">Limit</th><th scope="col" class="num">Phases</th></tr></thead>
        <tbody></tbody></table></div></details>`;
  fig.id = `schedule-${n}`;
  const out = host.querySelector("output.result");
  if (out) out.after(fig); else host.appendChild(fig);
  return fig;
}

// Draw a schedule (step chart of the limit) with its table into `host` (a form); null hides it.
function showSchedule(host, sched, title) {
  if (!sched) {
    const old = host.querySelector("figure.schedule");
    if (old) old.hidden = true;
    return;
  }
  const fig = scheduleFigure(host);
  fig.hidden = false;
  const watts = sched.unit !== "A";
  const unit = watts ? "kW" : "A";
  const scale = (v) => (v == null ? null : watts ? v / 1000 : v);
  const periods = [...sched.periods].sort((a, b) => a.startPeriod - b.startPeriod);
  const origin = sched.start ? new Date(sched.start).getTime() : 0;
  const first = origin + periods[0].startPeriod * 1000;
  const lastStart = origin + periods[periods.length - 1].startPeriod * 1000;
  const end = sched.duration ? origin + sched.duration * 1000
    : lastStart + Math.max(600000, (lastStart - first) * 0.25);
  const span = Math.max(1, end - first);
  const label = sched.start ? fmtClock : (t, s) => fmtOffset(t - origin, s);
  const points = periods.map((p) => ({ t: origin + p.startPeriod * 1000, v: scale(p.limit) }));
  const canvas = fig.querySelector("canvas");
  const describeOne = (p) => `${p.v == null ? "no limit" : `${fmtNum(p.v, 0.1)} ${unit}`} from ${label(p.t, span)}`;
  canvas.setAttribute("aria-label", `${title}${sched.evse != null ? ` (EVSE ${sched.evse})` : ""}: ` +
    points.slice(0, 6).map(describeOne).join(", ") + (points.length > 6 ? `, and ${points.length - 6} more periods` : ""));
  canvas.dataset.points = String(points.length);
  fig.querySelector("figcaption").textContent =
    `${title}: limit in ${unit}${sched.unit === "W" ? " (sent in W)" : ""}` +
    (sched.start ? `, starting ${new Date(sched.start).toLocaleString()}` : ", times from the schedule start") +
    (sched.duration ? `, ${Math.round(sched.duration / 60)} min.` : ".");
  fig.querySelector("caption").textContent = title;
  fillTable(fig.querySelector("table"), periods.map((p, i) => [
    label(points[i].t, span), p.limit == null ? "–" : `${fmtNum(scale(p.limit), 0.1)} ${unit}`, p.numberPhases ?? "",
  ]));
  const draw = () => drawChart(canvas, {
    x0: first, x1: end, xLabel: label, empty: "Empty schedule", left: { unit },
    series: [{ points, color: COLORS.limit, step: true, fill: "rgba(17, 99, 41, 0.12)", end }],
  });
  draw();
  if (!fig.dataset.resize) {
    fig.dataset.resize = "1";
    window.addEventListener("resize", () => fig.redraw && fig.redraw());
  }
  fig.redraw = draw;
}

// The charging-profile form previews the profile it would send, as the operator types.
function previewProfile(form) {
  let sched = null;
  try {
    const el = form.elements;
    const duration = el["profile.duration_s"] ? fieldValue(el["profile.duration_s"]) : undefined;
    sched = {
      start: null,
      unit: el["profile.unit"].value,
      duration,
      periods: parsePeriods(el["profile.periods"].value).map((p) => ({ startPeriod: p.start_s, limit: p.limit })),
    };
  } catch {
    sched = null;
  }
  showSchedule(form, sched, "Profile to send");
}

// The composite schedule the CSMS computes for one EVSE (the profile timeline page), reloaded when a
// profile is sent to the station or its transaction ends.
class CompositeChart {
  constructor(host) {
    this.host = host;
    this.timer = null;
  }

  wants(event) {
    return event.station_id === stationId() && (event.type.startsWith("profile.") || event.type === "transaction.ended");
  }

  schedule() {
    if (!this.timer) this.timer = setTimeout(() => { this.timer = null; this.load(); }, 500);
  }

  async load() {
    let data;
    try {
      data = await api("GET", this.host.dataset.src);
    } catch {
      return;
    }
    const sched = data.periods && data.periods.length
      ? { start: data.start, unit: data.unit, duration: 86400, periods: data.periods, evse: data.evse_id } : null;
    this.host.dataset.periods = String(sched ? sched.periods.length : 0);
    showSchedule(this.host, sched, "Composite schedule");
    let empty = this.host.querySelector("p.empty");
    if (!sched && !empty) {
      empty = document.createElement("p");
      empty.className = "muted empty";
      empty.textContent = "No limit: no installed profile applies to this EVSE.";
      this.host.appendChild(empty);
    } else if (sched && empty) {
      empty.remove();
    }
  }
}

let charts = [];

document.addEventListener("DOMContentLoaded", () => {
  const power = document.getElementById("power-figure");
  if (power && stationId()) charts.push(new StationPowerChart(power, stationId()));
  const tx = document.getElementById("tx-figure");
  if (tx) charts.push(new TransactionChart(tx));
  const composite = document.getElementById("composite-figure");
  if (composite) charts.push(new CompositeChart(composite));
  const billing = document.getElementById("billing-figure");
  if (billing) charts.push(new BillingChart(billing));
  document.querySelectorAll("figure[data-series]").forEach((f) => charts.push(new SeriesChart(f)));
  charts.forEach((c) => c.load());
  const profile = document.getElementById("form-set-profile");
  if (profile) {
    profile.addEventListener("input", () => previewProfile(profile));
    previewProfile(profile);
  }
  connectEvents();
});

// The remote-stop form offers the transaction that just started on this station.
document.addEventListener("ocppd:event", (ev) => {
  const field = document.getElementById("rstop-tx");
  const event = ev.detail;
  if (!field || event.station_id !== stationId()) return;
  if (event.type === "transaction.started" && !field.value) field.value = event.transaction_id;
  if (event.type === "transaction.ended" && field.value === String(event.transaction_id)) field.value = "";
});
