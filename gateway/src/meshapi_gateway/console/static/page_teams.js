// Teams: members and roles, budgets and spend, allowed models; the admin creates them (/v1/teams).

import * as api from "./api.js";
import { clear, errorBox, field, h, heading, load, table, usd } from "./dom.js";

function members(t) {
  return Object.entries(t.members || {}).map(([who, role]) => h("div", {}, `${who} (${role})`));
}

function createForm(onCreated) {
  const inputs = {
    name: h("input", { name: "name", required: true, autocomplete: "off" }),
    members: h("input", { name: "members", placeholder: "ann:admin, bob:member" }),
    budget_usd: h("input", { name: "budget_usd", inputmode: "decimal" }),
    budget_period: h("select", { name: "budget_period" }, ["monthly", "weekly", "daily", "total"].map((p) => h("option", { value: p }, p))),
    models: h("input", { name: "models", placeholder: "openai/*" }),
  };
  const out = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "new-team-title" },
    h("h2", { id: "new-team-title" }, "Create a team"),
    h("div", { class: "row" }, field("Team name", inputs.name), field("Members", inputs.members, "owner:role pairs, comma-separated (role: admin or member)."), field("Team budget (USD)", inputs.budget_usd), field("Team budget period", inputs.budget_period), field("Team models", inputs.models)),
    h("button", { type: "submit" }, "Create team"),
    out,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear(out);
    const body = { name: inputs.name.value.trim(), members: {} };
    for (const pair of inputs.members.value.split(",").map((p) => p.trim()).filter(Boolean)) {
      const [who, role] = pair.split(":").map((x) => x.trim());
      body.members[who] = role || "member";
    }
    if (inputs.budget_usd.value.trim()) {
      body.budget_usd = inputs.budget_usd.value.trim();
      body.budget_period = inputs.budget_period.value;
    }
    const models = inputs.models.value.split(",").map((m) => m.trim()).filter(Boolean);
    if (models.length) body.models = models;
    try {
      await api.post("/v1/teams", body);
      form.reset();
      await onCreated();
    } catch (err) {
      out.append(errorBox(err));
    }
  });
  return form;
}

export async function render(root, ctx) {
  const box = h("div", {});
  const refresh = () =>
    load(box, async () => {
      const teams = (await api.get("/v1/teams")).data;
      return table(
        "Teams",
        [
          { label: "Name", cell: (t) => t.name },
          { label: "Members", cell: members },
          { label: "Spend", cell: (t) => (t.budget_usd ? `${usd(t.spend_usd || 0)} of ${usd(t.budget_usd)} (${t.budget_period})` : "no budget") },
          { label: "Models", cell: (t) => (t.models && t.models.length ? t.models.join(", ") : "all") },
          { label: "Limits", cell: (t) => [t.rpm ? `${t.rpm} RPM` : "", t.tpm ? ` ${t.tpm} TPM` : ""].join("") || "—" },
          { label: "Id", cell: (t) => h("code", {}, t.id) },
        ],
        teams,
      );
    }, "Loading teams…");
  root.append(heading("Teams"), ctx.session.kind === "admin" ? createForm(refresh) : h("p", { class: "meta" }, "Teams you belong to; the admin creates teams."), box);
  await refresh();
}
