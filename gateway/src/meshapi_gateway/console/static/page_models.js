// Models: the catalog with prices and context sizes, and each deployment's breaker
// (GET /v1/models, GET /v1/deployments).

import * as api from "./api.js";
import { badge, h, heading, load, table } from "./dom.js";

const STATES = { closed: ["healthy", "ok"], half_open: ["probing", "warn"], open: ["open: avoided", "bad"] };

function price(p, key) {
  return p && p[key] !== undefined ? `$${p[key]}` : "—";
}

export async function render(root) {
  const box = h("div", {});
  root.append(heading("Models"), box);
  await load(box, async () => {
    const [answer, deps] = await Promise.all([api.get("/v1/models"), api.get("/v1/deployments")]);
    const models = Array.isArray(answer) ? answer : answer.data || [];
    const byModel = {};
    for (const d of deps.data) (byModel[d.model] = byModel[d.model] || []).push(d);
    return table(
      "Catalog",
      [
        { label: "Model", cell: (m) => h("code", {}, m.id) },
        { label: "Type", cell: (m) => m.model_type },
        { label: "Context", cell: (m) => (m.context_length ? `${Number(m.context_length).toLocaleString()} tokens` : "—") },
        { label: "Input / 1M", cell: (m) => (m.is_free ? "free" : price(m.pricing, "prompt_usd_per_1m")) },
        { label: "Output / 1M", cell: (m) => (m.is_free ? "free" : price(m.pricing, "completion_usd_per_1m")) },
        { label: "Tools", cell: (m) => (m.supports_tools ? "yes" : "no") },
        {
          label: "Deployments",
          cell: (m) =>
            (byModel[m.id] || []).map((d) => {
              const [text, kind] = STATES[d.breaker] || [d.breaker, ""];
              return h("div", { "data-deployment": d.id }, `#${d.index} ${d.provider} `, badge(text, kind));
            }),
        },
      ],
      models,
    );
  }, "Loading the catalog…");
}
