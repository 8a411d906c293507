// Overview: balance, and requests, spend, tokens, errors and p50/p99 latency over time and by model
// (GET /v1/balance, GET /v1/stats).

import * as api from "./api.js";
import { barChart, lineChart } from "./charts.js";
import { field, h, heading, load, usd } from "./dom.js";

const RANGES = { "24h": [86400, "hour"], "7d": [7 * 86400, "day"], "30d": [30 * 86400, "day"] };

function stat(label, value, id) {
  return h("div", { class: "stat" }, h("div", { class: "label", id }, label), h("div", { class: "value", "aria-labelledby": id }, value));
}

function ms(v) {
  return v === null || v === undefined ? "—" : v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`;
}

function labelOf(bucket, seconds) {
  const d = new Date(bucket.start_ms);
  return seconds < 86400 ? `${String(d.getHours()).padStart(2, "0")}:00` : `${d.getMonth() + 1}/${d.getDate()}`;
}

async function content(range, balance) {
  const [span, bucket] = RANGES[range];
  const now = Math.floor(Date.now() / 1000);
  const stats = await api.get("/v1/stats", { since: now - span, until: now + 1, bucket });
  const t = stats.totals;
  const labels = stats.buckets.map((b) => labelOf(b, stats.bucket_seconds));
  const col = (k) => stats.buckets.map((b) => b[k]);
  const tokens = stats.buckets.map((b) => b.prompt_tokens + b.completion_tokens);
  const money = (v) => usd(v);
  return h(
    "div",
    {},
    h(
      "div",
      { class: "stats", "data-testid": "totals" },
      balance ? stat("Balance", balance.limited ? usd(balance.available_usd) : "no limit", "st-balance") : null,
      balance ? stat("Spent, all time", usd(balance.spent_usd), "st-spent") : null,
      stat("Requests", String(t.requests), "st-requests"),
      stat("Spend", usd(t.cost_usd), "st-spend"),
      stat("Tokens", String(t.prompt_tokens + t.completion_tokens), "st-tokens"),
      stat("Errors", String(t.errors), "st-errors"),
      stat("p50 latency", ms(t.p50_ms), "st-p50"),
      stat("p99 latency", ms(t.p99_ms), "st-p99"),
    ),
    stats.truncated ? h("p", { class: "notice" }, "The range holds more requests than one answer sums; the newest are shown.") : null,
    h(
      "div",
      { class: "grid" },
      lineChart({ title: "Requests and errors", labels, series: [{ name: "requests", values: col("requests") }, { name: "errors", values: col("errors") }] }),
      lineChart({ title: "Spend (USD)", labels, series: [{ name: "spend", values: col("cost_usd").map(Number) }], format: money }),
      lineChart({ title: "Tokens", labels, series: [{ name: "tokens", values: tokens }] }),
      lineChart({ title: "Latency (ms)", labels, series: [{ name: "p50", values: col("p50_ms") }, { name: "p99", values: col("p99_ms") }], format: (v) => String(Math.round(v)) }),
      barChart({ title: "Requests by model", rows: stats.models.map((m) => ({ label: m.model, value: m.requests })) }),
      barChart({ title: "Spend by model (USD)", rows: stats.models.map((m) => ({ label: m.model, value: Number(m.cost_usd) })), format: money }),
    ),
  );
}

export async function render(root, ctx) {
  const select = h("select", { name: "range" }, Object.keys(RANGES).map((r) => h("option", { value: r }, `Last ${r}`)));
  const body = h("div", { "aria-live": "polite" });
  let balance = null;
  if (ctx.session.kind !== "admin") {
    try {
      balance = await api.get("/v1/balance");
    } catch {
      balance = null;
    }
  }
  const refresh = () => load(body, () => content(select.value, balance), "Loading the statistics…");
  select.addEventListener("change", refresh);
  root.append(heading("Overview", field("Time range", select)), body);
  await refresh();
}
