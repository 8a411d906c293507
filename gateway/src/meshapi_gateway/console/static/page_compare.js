// Compare: one prompt to several models side by side, each streamed into its own column, then the
// judge's verdict (POST /v1/chat/compare with stream: true).

import * as api from "./api.js";
import { ensureDataKey } from "./data_key.js";
import { clear, errorBox, field, h, heading, usd } from "./dom.js";
import { markdown } from "./markdown.js";
import { chatModels } from "./models_list.js";

function column(model) {
  const body = h("div", { class: "content" }, h("p", { class: "loading" }, "Waiting for the first token…"));
  const meta = h("p", { class: "meta" });
  const el = h("article", { class: "msg assistant", "aria-label": `Answer of ${model}`, "data-model": model }, h("h2", {}, model), body, meta);
  return { el, body, meta, text: "" };
}

export async function render(root) {
  const models = await chatModels();
  const boxes = models.map((id, i) => h("input", { type: "checkbox", name: "models", value: id, id: `cmp-${i}`, checked: i < 2 }));
  const picker = h(
    "fieldset",
    { class: "card" },
    h("legend", {}, "Models to compare"),
    h("div", { class: "row" }, boxes.map((box) => h("label", { for: box.id, class: "check" }, box, ` ${box.value}`))),
  );
  const judge = h("select", { name: "judge" }, h("option", { value: "" }, "the gateway's default judge (if any)"), h("option", { value: "-" }, "no judge"), models.map((id) => h("option", { value: id }, id)));
  const prompt = h("textarea", { name: "prompt", rows: 3, required: true });
  const maxTokens = h("input", { name: "max_tokens", type: "number", min: "1", value: "200" });
  const status = h("div", { role: "status" });
  const columns = h("div", { class: "columns", "aria-live": "polite" });
  const verdict = h("div", {});
  const send = h("button", { type: "submit" }, "Compare");
  const form = h(
    "form",
    { "aria-label": "Compare models" },
    picker,
    h("div", { class: "card" }, h("div", { class: "row" }, field("Judge", judge), field("Max tokens", maxTokens)), field("Prompt", prompt), send),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear(status);
    clear(columns);
    clear(verdict);
    const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
    if (chosen.length < 2) {
      status.append(errorBox("Choose at least two models."));
      return;
    }
    const cols = Object.fromEntries(chosen.map((m) => [m, column(m)]));
    chosen.forEach((m) => columns.append(cols[m].el));
    const body = { models: chosen, messages: [{ role: "user", content: prompt.value }], stream: true };
    if (maxTokens.value) body.max_tokens = Number(maxTokens.value);
    if (judge.value === "-") body.skip_comparison = true;
    else if (judge.value) body.comparison_model = judge.value;
    let judgeText = "";
    let judgeBox = null;
    send.disabled = true;
    try {
      await ensureDataKey();
      await api.stream("/v1/chat/compare", body, (name, ev) => {
        const event = ev.event || name;
        const d = ev.data || ev;
        if (event === "delta" && cols[d.model]) {
          const c = cols[d.model];
          c.text += d.delta || "";
          clear(c.body).append(markdown(c.text));
        } else if (event === "model_done" && cols[d.model]) {
          const c = cols[d.model];
          if (d.error || d.error_code) {
            clear(c.body).append(errorBox({ message: d.error_message || d.error || "failed", code: d.error_code }));
          } else {
            clear(c.body).append(markdown(d.content ?? c.text));
          }
          const u = d.usage || {};
          c.meta.textContent = `${Math.round(d.latency_ms || 0)} ms · ${(u.prompt_tokens || 0) + (u.completion_tokens || 0)} tokens · ${usd(d.cost)}`;
        } else if (event === "comparison_delta") {
          if (!judgeBox) {
            judgeBox = h("div", {});
            verdict.append(h("section", { class: "msg verdict", "aria-label": "The judge's verdict", "data-testid": "verdict" }, h("h2", {}, `Verdict of ${d.comparison_model}`), judgeBox));
          }
          judgeText += d.delta || "";
          clear(judgeBox).append(markdown(judgeText));
        } else if (event === "comparison_done") {
          if (d.error_code) verdict.append(errorBox({ message: d.error_message || "The judge did not answer.", code: d.error_code }));
          else if (d.comparison !== undefined && d.comparison !== null) {
            if (!judgeBox) {
              judgeBox = h("div", {});
              verdict.append(h("section", { class: "msg verdict", "aria-label": "The judge's verdict", "data-testid": "verdict" }, h("h2", {}, `Verdict of ${d.comparison_model}`), judgeBox));
            }
            clear(judgeBox).append(markdown(String(d.comparison)));
          }
        } else if (event === "done") {
          status.append(h("p", { class: "notice" }, `Done in ${Math.round(d.total_latency_ms || 0)} ms${d.partial ? " (some models failed)" : ""}.`));
        }
      }, { realm: "data" });
    } catch (err) {
      status.append(errorBox(err));
    } finally {
      send.disabled = false;
    }
  });
  root.append(heading("Compare"), form, status, columns, verdict);
}
