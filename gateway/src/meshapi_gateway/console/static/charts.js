// Charts drawn as SVG by the console itself (no chart library): a line chart over time and
// horizontal bars by category. Each chart has a title and a text summary for screen readers.

const NS = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// series: [{name, values: [number|null]}]; labels: x labels (same length as values).
export function lineChart({ title, labels, series, format = (v) => String(v) }) {
  const W = 560, H = 200, L = 52, R = 10, T = 12, B = 26;
  const all = series.flatMap((x) => x.values).filter((v) => v !== null && Number.isFinite(v));
  const max = niceMax(Math.max(0, ...all));
  const n = Math.max(1, labels.length - 1);
  const x = (i) => L + ((W - L - R) * i) / n;
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img" });
  const summary = series.map((x) => `${x.name}: total ${format(x.values.reduce((a, b) => a + (b || 0), 0))}, peak ${format(Math.max(0, ...x.values.map((v) => v || 0)))}`).join("; ");
  svg.append(s("title", {}, `${title}. ${summary}`));
  for (const frac of [0, 0.5, 1]) {
    const v = max * frac;
    svg.append(s("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "axis" }));
    svg.append(s("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, format(v)));
  }
  const step = Math.max(1, Math.ceil(labels.length / 6));
  labels.forEach((label, i) => {
    if (i % step === 0) svg.append(s("text", { x: x(i), y: H - 8, "text-anchor": "middle" }, label));
  });
  series.forEach((ser, k) => {
    let d = "";
    let pen = false;
    ser.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) {
        pen = false;
        return;
      }
      d += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
      if (labels.length <= 48) svg.append(s("circle", { cx: x(i), cy: y(v), r: 2.5, class: `s${k + 1}` }));
    });
    if (d) svg.append(s("path", { d, class: `line s${k + 1}` }));
  });
  return figure(title, svg, series.map((x) => x.name));
}

// rows: [{label, value}]
export function barChart({ title, rows, format = (v) => String(v) }) {
  const W = 560, rowH = 24, L = 170, R = 70;
  const H = Math.max(1, rows.length) * rowH + 8;
  const max = niceMax(Math.max(0, ...rows.map((r) => r.value)));
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img" });
  svg.append(s("title", {}, `${title}. ${rows.map((r) => `${r.label}: ${format(r.value)}`).join("; ") || "no data"}`));
  rows.forEach((r, i) => {
    const yy = 4 + i * rowH;
    const label = r.label.length > 26 ? `${r.label.slice(0, 25)}…` : r.label;
    svg.append(s("text", { x: L - 8, y: yy + 15, "text-anchor": "end" }, label));
    svg.append(s("rect", { x: L, y: yy + 3, height: rowH - 8, width: Math.max(1, ((W - L - R) * r.value) / max), class: "s1", rx: 3 }));
    svg.append(s("text", { x: L + ((W - L - R) * r.value) / max + 6, y: yy + 15 }, format(r.value)));
  });
  return figure(title, svg, []);
}

function figure(title, svg, names) {
  const fig = document.createElement("figure");
  fig.className = "card chart-card";
  const cap = document.createElement("figcaption");
  cap.className = "chart-title";
  cap.textContent = title;
  fig.append(cap, svg);
  if (names.length > 1) {
    const legend = document.createElement("div");
    legend.className = "legend";
    names.forEach((n, k) => {
      const item = document.createElement("span");
      const sw = document.createElement("i");
      sw.className = `s${k + 1}`;
      item.append(sw, n);
      legend.append(item);
    });
    fig.append(legend);
  }
  return fig;
}
