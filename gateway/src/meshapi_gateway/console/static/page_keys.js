// Keys: list with spend against budget, create (limits, budget, models, expiry, team), suspend, resume, revoke.

import * as api from "./api.js";
import { badge, clear, errorBox, field, h, heading, load, table, usd, when } from "./dom.js";

function meter(key) {
  if (key.budget_usd === null || key.budget_usd === undefined) return "no budget";
  const spent = Number(key.spend_usd || 0);
  const budget = Number(key.budget_usd);
  const pct = budget > 0 ? Math.min(100, (spent / budget) * 100) : 100;
  const bar = h("span", {});
  bar.style.width = `${pct}%`;
  return h(
    "div",
    {},
    `${usd(key.spend_usd || 0)} of ${usd(key.budget_usd)} (${key.budget_period})`,
    h("div", { class: "meter", role: "meter", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": pct.toFixed(0), "aria-label": `Budget used by ${key.name || key.prefix}` }, bar),
  );
}

function status(key) {
  if (key.revoked_at) return badge("revoked", "bad");
  if (key.suspended) return badge("suspended", "warn");
  if (key.expires_at && new Date(key.expires_at) <= new Date()) return badge("expired", "bad");
  return badge("active", "ok");
}

function actions(key, refresh, report) {
  if (key.revoked_at) return "";
  const act = (label, fn, cls = "secondary") =>
    h("button", {
      type: "button",
      class: cls,
      "aria-label": `${label} key ${key.name || key.prefix}`,
      onclick: async () => {
        try {
          await fn();
          await refresh();
        } catch (err) {
          report(err);
        }
      },
    }, label);
  return h(
    "div",
    { class: "actions" },
    key.suspended
      ? act("Resume", () => api.post(`/v1/keys/${encodeURIComponent(key.id)}/resume`))
      : act("Suspend", () => api.post(`/v1/keys/${encodeURIComponent(key.id)}/suspend`)),
    act("Revoke", async () => {
      if (confirm(`Revoke key ${key.name || key.prefix}? Requests with it will be refused.`)) {
        await api.del(`/v1/keys/${encodeURIComponent(key.id)}`);
      }
    }, "danger"),
  );
}

function createForm(ctx, teams, onCreated) {
  const admin = ctx.session.kind === "admin";
  const inputs = {
    owner: h("input", { name: "owner", required: admin, autocomplete: "off" }),
    name: h("input", { name: "name", autocomplete: "off" }),
    budget_usd: h("input", { name: "budget_usd", inputmode: "decimal", placeholder: "e.g. 5.00" }),
    budget_period: h("select", { name: "budget_period" }, ["total", "daily", "weekly", "monthly"].map((p) => h("option", { value: p }, p))),
    models: h("input", { name: "models", placeholder: "openai/*, local/smollm2-135m-instruct" }),
    expires_at: h("input", { name: "expires_at", type: "date" }),
    team_id: h("select", { name: "team_id" }, h("option", { value: "" }, "no team"), teams.map((t) => h("option", { value: t.id }, t.name))),
    rpm: h("input", { name: "rpm", type: "number", min: "1" }),
    tpm: h("input", { name: "tpm", type: "number", min: "1" }),
  };
  const out = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "new-key-title" },
    h("h2", { id: "new-key-title" }, "Create a key"),
    h(
      "div",
      { class: "row" },
      admin ? field("Owner", inputs.owner, "Whose key it is (admin only).") : null,
      field("Name", inputs.name),
      field("Budget (USD)", inputs.budget_usd),
      field("Budget period", inputs.budget_period),
    ),
    h(
      "div",
      { class: "row" },
      field("Allowed models", inputs.models, "Comma-separated ids or patterns; empty allows all."),
      field("Expires on", inputs.expires_at),
      field("Team", inputs.team_id),
      field("Requests per minute", inputs.rpm),
      field("Tokens per minute", inputs.tpm),
    ),
    h("button", { type: "submit" }, "Create key"),
    out,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear(out);
    const body = { name: inputs.name.value.trim() };
    if (admin) body.owner = inputs.owner.value.trim();
    if (inputs.budget_usd.value.trim()) {
      body.budget_usd = inputs.budget_usd.value.trim();
      body.budget_period = inputs.budget_period.value;
    }
    const models = inputs.models.value.split(",").map((m) => m.trim()).filter(Boolean);
    if (models.length) body.models = models;
    if (inputs.expires_at.value) body.expires_at = `${inputs.expires_at.value}T00:00:00Z`;
    if (inputs.team_id.value) body.team_id = inputs.team_id.value;
    if (inputs.rpm.value) body.rpm = Number(inputs.rpm.value);
    if (inputs.tpm.value) body.tpm = Number(inputs.tpm.value);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const created = await api.post("/v1/keys", body);
      form.reset();
      out.append(
        h(
          "div",
          { class: "notice", role: "status" },
          h("p", {}, `Key ${created.name || created.prefix} created. Copy it now: it is shown only this once.`),
          h("p", { class: "secret", "data-testid": "new-key-secret" }, created.key),
        ),
      );
      await onCreated();
    } catch (err) {
      out.append(errorBox(err));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

export async function render(root, ctx) {
  const listBox = h("div", {});
  const problems = h("div", { "aria-live": "assertive" });
  const report = (err) => clear(problems).append(errorBox(err));
  const refresh = () =>
    load(listBox, async () => {
      const keys = (await api.get("/v1/keys")).data;
      return table(
        "Keys",
        [
          { label: "Name", cell: (k) => k.name || "—" },
          { label: "Prefix", cell: (k) => h("code", {}, k.prefix) },
          ...(ctx.session.kind === "admin" ? [{ label: "Owner", cell: (k) => k.owner }] : []),
          { label: "Status", cell: status },
          { label: "Spend", cell: meter },
          { label: "Models", cell: (k) => (k.models && k.models.length ? k.models.join(", ") : "all") },
          { label: "Team", cell: (k) => k.team_id || "—" },
          { label: "Expires", cell: (k) => when(k.expires_at) },
          { label: "Actions", cell: (k) => actions(k, refresh, report) },
        ],
        keys,
      );
    }, "Loading keys…");
  let teams = [];
  try {
    teams = (await api.get("/v1/teams")).data || [];
  } catch {
    teams = [];
  }
  root.append(heading("Keys"), createForm(ctx, teams, refresh), problems, listBox);
  await refresh();
}
