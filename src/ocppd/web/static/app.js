/* ocppd dashboard: live regions over Server-Sent Events, API forms, and a small power chart.
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
  if (type === "json") return JSON.parse(raw);
  if (el.type === "datetime-local") return raw.length === 16 ? raw + ":00Z" : raw + "Z";
  return raw;
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
      if (v !== undefined) body[el.name] = v;
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
  if (chart) chart.load();
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
    "security.event", "station.notification"];
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
      if (chart && (type === "meter.values" || type.startsWith("transaction.") || type === "station.disconnected")) {
        chart.schedule();
      }
      document.dispatchEvent(new CustomEvent("ocppd:event", { detail: JSON.parse(ev.data) }));
    });
  }
}

// ------------------------------------------------------------------ power chart
class PowerChart {
  constructor(canvas, station) {
    this.canvas = canvas;
    this.station = station;
    this.points = [];
    this.timer = null;
    window.addEventListener("resize", () => this.draw());
  }

  schedule() {
    if (!this.timer) this.timer = setTimeout(() => { this.timer = null; this.load(); }, 500);
  }

  async load() {
    try {
      const data = await api("GET", `/api/v1/stations/${encodeURIComponent(this.station)}/power`);
      this.points = data.series.map((p) => ({ t: new Date(p.at).getTime(), w: p.power_w }));
      this.canvas.dataset.points = String(this.points.length);
      this.canvas.setAttribute("aria-label",
        `Power of ${this.station}: now ${(data.power_w / 1000).toFixed(1)} kW, ${this.points.length} readings`);
      this.draw();
    } catch { /* keep the last picture */ }
  }

  draw() {
    const c = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = c.clientWidth || 640;
    const height = c.clientHeight || 240;
    c.width = width * ratio;
    c.height = height * ratio;
    const g = c.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    g.font = "12px system-ui, sans-serif";
    const left = 48, right = 12, top = 10, bottom = 26;
    const w = width - left - right, h = height - top - bottom;
    const pts = this.points;
    const maxKw = Math.max(1, ...pts.map((p) => p.w / 1000)) * 1.15;
    const step = niceStep(maxKw / 4);
    const t0 = pts.length ? pts[0].t : Date.now() - 60000;
    const t1 = pts.length > 1 ? pts[pts.length - 1].t : t0 + 60000;
    const x = (t) => left + ((t - t0) / Math.max(1, t1 - t0)) * w;
    const y = (kw) => top + h - (kw / maxKw) * h;
    g.strokeStyle = "#d0d7de";
    g.fillStyle = "#57606a";
    g.lineWidth = 1;
    for (let v = 0; v <= maxKw; v += step) {
      g.beginPath();
      g.moveTo(left, y(v));
      g.lineTo(left + w, y(v));
      g.stroke();
      g.fillText(`${v.toFixed(step < 1 ? 1 : 0)} kW`, 4, y(v) + 4);
    }
    if (!pts.length) {
      g.fillText("No power readings yet", left + 10, top + h / 2);
      return;
    }
    const fmt = (t) => new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    g.fillText(fmt(t0), left, height - 6);
    const label = fmt(t1);
    g.fillText(label, left + w - g.measureText(label).width, height - 6);
    g.beginPath();
    pts.forEach((p, i) => {
      // Power holds until the next reading: draw steps, not slopes.
      if (i === 0) g.moveTo(x(p.t), y(p.w / 1000));
      else {
        g.lineTo(x(p.t), y(pts[i - 1].w / 1000));
        g.lineTo(x(p.t), y(p.w / 1000));
      }
    });
    g.strokeStyle = "#0b5cad";
    g.lineWidth = 2;
    g.stroke();
    g.lineTo(x(pts[pts.length - 1].t), y(0));
    g.lineTo(x(pts[0].t), y(0));
    g.closePath();
    g.fillStyle = "rgba(11, 92, 173, 0.12)";
    g.fill();
  }
}

function niceStep(raw) {
  const exp = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * exp >= raw) return m * exp;
  return 10 * exp;
}

let chart = null;

document.addEventListener("DOMContentLoaded", () => {
  const canvas = document.getElementById("power-chart");
  if (canvas && stationId()) {
    chart = new PowerChart(canvas, stationId());
    chart.load();
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
