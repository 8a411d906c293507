// Playground: a chat with one model, streamed, with its parameters and tools; tool calls are shown
// as their pieces arrive (POST /v1/chat/completions with stream: true).

import * as api from "./api.js";
import { ensureDataKey } from "./data_key.js";
import { clear, errorBox, field, h, heading, usd } from "./dom.js";
import { markdown } from "./markdown.js";
import { chatModels, modelSelect } from "./models_list.js";

const EXAMPLE_TOOL = JSON.stringify(
  [{ type: "function", function: { name: "get_weather", description: "Current weather of a city.", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } }],
  null,
  2,
);

function bubble(role) {
  const body = h("div", { class: "content" });
  const el = h("article", { class: `msg ${role}`, "aria-label": `${role} message` }, h("div", { class: "role" }, role), body);
  return { el, body };
}

export async function render(root, ctx) {
  const models = await chatModels();
  const preferred = models.find((m) => m.startsWith("local/")) || models[0];
  const inputs = {
    model: modelSelect(models, "model", preferred),
    system: h("textarea", { name: "system", rows: 2, placeholder: "You are a helpful assistant." }),
    temperature: h("input", { name: "temperature", type: "number", min: "0", max: "2", step: "0.1", placeholder: "default" }),
    max_tokens: h("input", { name: "max_tokens", type: "number", min: "1", value: "256" }),
    tools: h("textarea", { name: "tools", rows: 4, placeholder: "[] (a JSON array of tools, optional)" }),
    prompt: h("textarea", { name: "prompt", rows: 3, required: true }),
  };
  const history = [];
  const chat = h("div", { class: "chat", "aria-live": "polite", "data-testid": "chat" });
  const status = h("div", { role: "status" });
  const send = h("button", { type: "submit" }, "Send");
  const stop = h("button", { type: "button", class: "secondary", disabled: true }, "Stop");
  const reset = h("button", { type: "button", class: "secondary", onclick: () => { history.length = 0; clear(chat); clear(status); } }, "New chat");
  const exampleTool = h("button", { type: "button", class: "secondary", onclick: () => { inputs.tools.value = EXAMPLE_TOOL; } }, "Add an example tool");
  let controller = null;
  stop.addEventListener("click", () => controller && controller.abort());

  const settings = h(
    "section",
    { class: "card", "aria-label": "Parameters" },
    field("Model", inputs.model),
    h("div", { class: "row" }, field("Temperature", inputs.temperature), field("Max tokens", inputs.max_tokens)),
    field("System prompt", inputs.system),
    field("Tools (JSON)", inputs.tools, "OpenAI's tools array; the model's calls appear as they stream in."),
    exampleTool,
  );
  const form = h("form", { class: "card", "aria-label": "Chat" }, field("Message", inputs.prompt, "Ctrl+Enter sends."), h("div", { class: "actions" }, send, stop, reset));
  inputs.prompt.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) form.requestSubmit();
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear(status);
    const text = inputs.prompt.value.trim();
    if (!text) return;
    let tools;
    if (inputs.tools.value.trim()) {
      try {
        tools = JSON.parse(inputs.tools.value);
      } catch (err) {
        status.append(errorBox(`Tools are not valid JSON: ${err.message}`));
        return;
      }
    }
    history.push({ role: "user", content: text });
    const mine = bubble("user");
    mine.body.append(markdown(text));
    chat.append(mine.el);
    inputs.prompt.value = "";
    const answer = bubble("assistant");
    chat.append(answer.el);
    answer.body.append(h("p", { class: "loading" }, "Waiting for the first token…"));
    const body = { model: inputs.model.value, messages: [...(inputs.system.value.trim() ? [{ role: "system", content: inputs.system.value.trim() }] : []), ...history], stream: true, stream_options: { include_usage: true } };
    if (inputs.temperature.value) body.temperature = Number(inputs.temperature.value);
    if (inputs.max_tokens.value) body.max_tokens = Number(inputs.max_tokens.value);
    if (tools) body.tools = tools;
    let content = "";
    const calls = [];
    const callBox = h("div", {});
    let meta = null;
    let requestId = null;
    const draw = () => {
      clear(answer.body).append(markdown(content), callBox);
      clear(callBox);
      for (const c of calls) {
        callBox.append(h("div", { class: "tool-call", "data-testid": "tool-call" }, h("strong", {}, `Tool call: ${c.name || "…"}`), h("pre", {}, c.arguments)));
      }
    };
    send.disabled = true;
    stop.disabled = false;
    controller = new AbortController();
    try {
      await ensureDataKey();
      await api.stream("/v1/chat/completions", body, (_name, chunk) => {
        requestId = requestId || chunk.id;
        const choice = chunk.choices && chunk.choices[0];
        if (choice && choice.delta) {
          if (choice.delta.content) content += choice.delta.content;
          for (const tc of choice.delta.tool_calls || []) {
            const slot = (calls[tc.index || 0] = calls[tc.index || 0] || { name: "", arguments: "" });
            if (tc.function && tc.function.name) slot.name = tc.function.name;
            if (tc.function && tc.function.arguments) slot.arguments += tc.function.arguments;
          }
          draw();
        }
        if (chunk.usage) meta = chunk;
      }, { realm: "data", signal: controller.signal, onResponse: (resp) => { requestId = resp.headers.get("x-request-id"); } });
      draw();
      history.push({ role: "assistant", content: content || null, ...(calls.length ? { tool_calls: calls.map((c, i) => ({ id: `call_${i}`, type: "function", function: { name: c.name, arguments: c.arguments } })) } : {}) });
      if (meta) {
        const u = meta.usage;
        answer.el.append(
          h("p", { class: "meta" }, `${u.prompt_tokens} prompt + ${u.completion_tokens} completion tokens · ${usd(meta.cost ?? u.cost)} · `, requestId ? h("a", { href: `#/logs/${encodeURIComponent(requestId)}` }, "see it in the request log") : ""),
        );
      }
    } catch (err) {
      history.pop();
      if (err.name === "AbortError") {
        draw();
        answer.el.append(h("p", { class: "notice" }, "Stopped."));
      } else {
        answer.el.remove();
        status.append(errorBox(err));
      }
    } finally {
      send.disabled = false;
      stop.disabled = true;
      controller = null;
    }
  });
  root.append(heading("Playground"), h("div", { class: "split" }, settings, h("div", { class: "chat-side" }, chat, status, form)));
}
