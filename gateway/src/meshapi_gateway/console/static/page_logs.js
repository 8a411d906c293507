// Request log: filters, pages by cursor, and one request's detail with its attempts, tokens, cost
// and (when the gateway keeps them) bodies (GET /v1/logs, GET /v1/logs/{request_id}).

import * as api from "./api.js";
import { badge, clear, errorBox, field, h, heading, load, loading, table, usd, when } from "./dom.js";

function statusBadge(status) {
  return badge(String(status), status >= 500 ? "bad" : status >= 400 ? "warn" : "ok");
}

function pretty(body) {
  if (body === null || body === undefined) return "not kept (request_log.bodies is off for this key)";
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

function kv(pairs) {
  return h("dl", { class: "kv" }, pairs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]));
}

async function detail(root, requestId) {
  const box = h("div", {});
  root.append(heading("Request", h("a", { href: "#/logs" }, "Back to the log")), box);
  await load(box, async () => {
    const r = await api.get(`/v1/logs/${encodeURIComponent(requestId)}`);
    return h(
      "div",
      { "data-testid": "log-detail" },
      h(
        "div",
        { class: "card" },
        kv([
          ["Request id", h("code", {}, r.request_id)],
          ["Time", when(r.created_ms)],
          ["Endpoint", r.endpoint],
          ["Model asked for", r.requested_model],
          ["Model that answered", r.model],
          ["Deployment", r.deployment],
          ["Status", statusBadge(r.status)],
          ["Error", r.error_code],
          ["Streamed", r.streamed ? "yes" : "no"],
          ["Time to first token", r.time_to_first_token_ms !== null ? `${Math.round(r.time_to_first_token_ms)} ms` : "—"],
          ["Duration", `${Math.round(r.duration_ms)} ms`],
          ["Prompt tokens", String(r.usage.prompt_tokens)],
          ["Completion tokens", String(r.usage.completion_tokens)],
          ["Cached tokens", String(r.usage.cached_tokens)],
          ["Cost", usd(r.cost)],
          ["Cache", r.cache_status],
          ["Key", r.key_id],
          ["Team", r.team_id],
          ["Owner", r.owner],
        ]),
      ),
      table(
        "Attempts",
        [
          { label: "Model", cell: (a) => a.model },
          { label: "Deployment", cell: (a) => a.deployment },
          { label: "Outcome", cell: (a) => badge(a.outcome, a.outcome === "ok" ? "ok" : "bad") },
          { label: "Duration", cell: (a) => (a.duration_ms !== undefined ? `${Math.round(a.duration_ms)} ms` : "—") },
        ],
        r.attempts || [],
      ),
      h("h2", {}, "Request body"),
      h("pre", { "data-testid": "request-body" }, pretty(r.request_body)),
      h("h2", {}, "Response body"),
      h("pre", { "data-testid": "response-body" }, pretty(r.response_body)),
    );
  }, "Loading the request…");
}

export async function render(root, ctx) {
  if (ctx.args[0]) return detail(root, ctx.args[0]);
  const inputs = {
    model: h("input", { name: "model", autocomplete: "off" }),
    status: h("input", { name: "status", type: "number", min: "100", max: "599" }),
    error_code: h("input", { name: "error_code", autocomplete: "off" }),
    key_id: h("input", { name: "key_id", autocomplete: "off" }),
    min_duration_ms: h("input", { name: "min_duration_ms", type: "number", min: "0" }),
    since: h("input", { name: "since", type: "datetime-local" }),
  };
  if (ctx.session.kind === "admin") inputs.owner = h("input", { name: "owner", autocomplete: "off" });
  const rows = [];
  const listBox = h("div", { "aria-live": "polite" });
  const more = h("div", {});
  let cursor = null;
  const query = () => {
    const q = {};
    for (const [k, el] of Object.entries(inputs)) if (el.value) q[k] = k === "since" ? new Date(el.value).toISOString() : el.value;
    return q;
  };
  const draw = () =>
    table(
      "Requests, newest first",
      [
        { label: "Time", cell: (r) => when(r.created_ms) },
        { label: "Request", cell: (r) => h("a", { href: `#/logs/${encodeURIComponent(r.request_id)}` }, r.request_id) },
        { label: "Model", cell: (r) => r.model || r.requested_model || "—" },
        { label: "Status", cell: (r) => [statusBadge(r.status), r.error_code ? ` ${r.error_code}` : ""] },
        { label: "Duration", cell: (r) => `${Math.round(r.duration_ms)} ms` },
        { label: "Tokens", cell: (r) => String(r.usage.prompt_tokens + r.usage.completion_tokens) },
        { label: "Cost", cell: (r) => usd(r.cost) },
        ...(ctx.session.kind === "admin" ? [{ label: "Owner", cell: (r) => r.owner || "—" }] : []),
      ],
      rows,
    );
  const page = async (first) => {
    const data = await api.get("/v1/logs", { ...query(), limit: 50, cursor: first ? undefined : cursor });
    if (first) rows.length = 0;
    rows.push(...data.data);
    cursor = data.next_cursor;
    clear(more);
    if (cursor) more.append(h("button", { type: "button", class: "secondary", onclick: () => nextPage() }, "Load more"));
    return draw();
  };
  const nextPage = async () => {
    clear(more).append(loading());
    try {
      const t = await page(false);
      clear(listBox).append(t);
    } catch (err) {
      clear(more).append(errorBox(err));
    }
  };
  const form = h(
    "form",
    { class: "card filters", "aria-label": "Filters" },
    Object.entries(inputs).map(([k, el]) => field({ model: "Model", status: "Status", error_code: "Error code", key_id: "Key id", min_duration_ms: "Slower than (ms)", since: "Since", owner: "Owner" }[k], el)),
    h("button", { type: "submit" }, "Apply filters"),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    load(listBox, () => page(true), "Loading requests…");
  });
  root.append(heading("Request log"), form, listBox, more);
  await load(listBox, () => page(true), "Loading requests…");
}
