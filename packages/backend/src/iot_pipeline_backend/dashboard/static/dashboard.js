// The local dashboard: polls the JSON endpoints every second and redraws what changed.
// The token lives in an HttpOnly cookie the server set; this script never sees it.
"use strict";

const POLL_MS = 1000;
// The aggregate intervals of GET /query?interval= (UTC-aligned buckets).
const INTERVALS = [
  ["1m", "1 min"], ["5m", "5 min"], ["15m", "15 min"], ["1h", "1 hour"], ["6h", "6 hours"],
  ["1d", "1 day"],
];
const state = {
  device: null, devices: [], more: false, filter: "", chart: null, chartKey: null, from: 0, to: 0,
};
const $ = (id) => document.getElementById(id);

function fmt(value, digits = 1) {
  return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
}

function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

async function getJson(path) {
  const response = await fetch(path, { credentials: "same-origin", cache: "no-store" });
  if (response.status === 401) throw new Error("unauthorized");
  const body = await response.json();
  if (!response.ok) throw new Error(body.message || `HTTP ${response.status}`);
  return body;
}

function renderFigures(f) {
  const rate = (v) => (v === null ? "–" : v < 10 ? v.toFixed(1) : Math.round(v).toString());
  $("ingest-rate").textContent = rate(f.ingest_per_second);
  $("processed-rate").textContent = rate(f.processed_per_second);
  $("readings-stored").textContent = f.readings_stored.toLocaleString();
  $("queue-depth").textContent = f.queue_depth.toLocaleString();
  $("dlq-size").textContent = f.dlq_size.toLocaleString();
  $("dlq-size").parentElement.classList.toggle("bad", f.dlq_size > 0);
}

function renderDevices(devices) {
  const needle = state.filter.trim().toLowerCase();
  const shown = devices.filter((d) => d.device_id.toLowerCase().includes(needle));
  const total = `${devices.length}${state.more ? "+" : ""}`;
  $("device-count").textContent = needle ? `(${shown.length} of ${total})` : `(${total})`;
  $("no-devices").hidden = devices.length > 0;
  if (state.device === null && devices.length > 0) selectDevice(devices[0].device_id);
  const body = el("tbody");
  for (const d of shown) {
    const out = new Set(d.anomalies.map((a) => a.field));
    const row = el("tr", { "data-device": d.device_id });
    if (d.device_id === state.device) row.classList.add("selected");
    row.append(el("td", {}, d.device_id));
    row.append(el("td", { title: new Date(d.last_seen).toISOString() }, ago(d.last_seen)));
    row.append(el("td", {}, d.readings.toLocaleString()));
    for (const sensor of ["temperature", "humidity", "pressure"]) {
      const cell = el("td", out.has(sensor) ? { class: "out" } : {}, fmt(d.values[sensor]));
      row.append(cell);
    }
    const status = el("td");
    const why = d.anomalies.map((a) => `${a.field} ${a.rule === "max" ? ">" : "<"} ${a.limit}`);
    status.append(el("span", { class: `status ${d.status}`, title: why.join(", ") },
      d.status === "anomaly" ? `anomaly: ${why.join(", ")}` : "ok"));
    row.append(status);
    row.addEventListener("click", () => selectDevice(d.device_id));
    body.append(row);
  }
  $("devices").querySelector("tbody").replaceWith(body);
}

function renderAlerts(alerts) {
  $("no-alerts").hidden = alerts.length > 0;
  const list = el("ol", { id: "alerts" });
  for (const a of alerts) {
    const item = el("li", { class: a.kind });
    item.append(el("div", { class: "subject" }, a.subject));
    item.append(el("div", {}, a.message));
    item.append(el("div", { class: "when", title: a.published_at }, a.published_at));
    list.append(item);
  }
  $("alerts").replaceWith(list);
}

function selectDevice(deviceId) {
  state.device = deviceId;
  $("chart-device").textContent = deviceId;
  for (const row of document.querySelectorAll("#devices tbody tr")) {
    row.classList.toggle("selected", row.dataset.device === deviceId);
  }
  refreshSeries();
}

function chartOptions(sensor, width) {
  return {
    width, height: 300,
    // The x axis is the chosen range, not the data's extent: one bucket alone must not be
    // stretched over an arbitrary span, and an idle device shows as a gap at the right.
    scales: { x: { time: true, range: () => [state.from / 1000, state.to / 1000] } },
    series: [
      {},
      { label: `${sensor} min`, stroke: "#93c5fd", width: 1 },
      { label: `${sensor} avg`, stroke: "#2563eb", width: 2 },
      { label: `${sensor} max`, stroke: "#f59e0b", width: 1 },
    ],
    axes: [{}, { size: 60 }],
  };
}

function renderSeries(s) {
  const data = [s.buckets.map((t) => t / 1000), s.min, s.avg, s.max];
  $("chart-empty").hidden = s.buckets.length > 0;
  const key = `${s.device_id}|${s.sensor}|${s.interval}`;
  const width = $("chart").clientWidth || 800;
  if (state.chart === null || state.chartKey !== key) {
    if (state.chart !== null) state.chart.destroy();
    state.chart = new uPlot(chartOptions(s.sensor, width), data, $("chart"));
    state.chartKey = key;
  } else {
    state.chart.setData(data);
  }
}

async function refreshSeries() {
  if (state.device === null) return;
  const end = Date.now();
  state.from = end - Number($("range").value);
  state.to = end;
  const query = new URLSearchParams({
    device_id: state.device,
    sensor: $("sensor").value,
    interval: $("interval").value,
    start: String(state.from),
    end: String(end),
  });
  let series;
  try {
    series = await getJson(`/dashboard/api/series?${query}`);
  } catch (error) {
    if (error.message === "unauthorized") throw error;
    // A refused range (e.g. too many buckets) is the user's choice to change, not an outage.
    $("chart-empty").textContent = error.message;
    $("chart-empty").hidden = false;
    return;
  }
  $("chart-empty").textContent = "No readings for this device in the range.";
  renderSeries(series);
}

function connection(stateName, text) {
  $("connection").dataset.state = stateName;
  $("connection").textContent = text;
}

async function tick() {
  try {
    const [figures, devices, alerts] = await Promise.all([
      getJson("/dashboard/api/figures"),
      getJson("/dashboard/api/devices"),
      getJson("/dashboard/api/alerts"),
    ]);
    renderFigures(figures);
    state.devices = devices.devices;
    state.more = devices.more;
    renderDevices(state.devices);
    renderAlerts(alerts.alerts);
    await refreshSeries();
    connection("live", `live · ${new Date().toLocaleTimeString()}`);
  } catch (error) {
    connection("lost", error.message === "unauthorized"
      ? "token refused: open the URL the runtime printed" : `not updating: ${error.message}`);
  } finally {
    setTimeout(tick, POLL_MS);
  }
}

function init() {
  for (const [value, label] of INTERVALS) $("interval").append(el("option", { value }, label));
  $("device-filter").addEventListener("input", (e) => {
    state.filter = e.target.value;
    renderDevices(state.devices);
  });
  for (const id of ["sensor", "interval", "range"]) {
    $(id).addEventListener("change", () => refreshSeries().catch(() => {}));
  }
  window.addEventListener("resize", () => {
    if (state.chart !== null) state.chart.setSize({ width: $("chart").clientWidth, height: 300 });
  });
  tick();
}

init();
