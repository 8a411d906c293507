// Templates: list and create; edit with {{variable}} highlighting; versions, a diff between two,
// and the active version set (rolled back or forward) (/v1/templates and its /versions).

import * as api from "./api.js";
import { diffView } from "./diff.js";
import { badge, clear, errorBox, field, h, heading, load, table, when } from "./dom.js";

const SLOT = /\{\{\s*\w+\s*\}\}/g;

// The text with each {{ name }} slot marked, as DOM (the text itself stays text).
export function highlighted(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(SLOT)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(h("mark", { class: "var" }, m[0]));
    last = m.index + m[0].length;
  }
  out.push(text.slice(last));
  return out;
}

function slots(text) {
  return [...new Set([...text.matchAll(SLOT)].map((m) => m[0].replace(/[{}\s]/g, "")))];
}

// One version as text for the diff: every field that shapes a request, one per line or block.
function asText(v) {
  return [
    `name: ${v.name}`,
    `model: ${v.model || ""}`,
    `description: ${v.description || ""}`,
    "system:",
    ...(v.system || "").split("\n").map((l) => `  ${l}`),
    "messages:",
    ...JSON.stringify(v.messages || [], null, 2).split("\n").map((l) => `  ${l}`),
    "params:",
    ...JSON.stringify(v.params || {}, null, 2).split("\n").map((l) => `  ${l}`),
    `variables: ${JSON.stringify(v.variables || [])}`,
  ].join("\n");
}

function json(text, name) {
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${name} is not valid JSON: ${err.message}`);
  }
}

function editor(t, onSaved) {
  const inputs = {
    name: h("input", { name: "name", value: t ? t.name : "", required: true, autocomplete: "off" }),
    description: h("input", { name: "description", value: t ? t.description || "" : "" }),
    model: h("input", { name: "model", value: t ? t.model || "" : "", autocomplete: "off" }),
    system: h("textarea", { name: "system", rows: 5 }),
    messages: h("textarea", { name: "messages", rows: 4, placeholder: '[{"role": "user", "content": "{{question}}"}]' }),
    params: h("textarea", { name: "params", rows: 2, placeholder: '{"temperature": 0.2}' }),
  };
  inputs.system.value = t ? t.system || "" : "";
  inputs.messages.value = t && t.messages && t.messages.length ? JSON.stringify(t.messages, null, 2) : "";
  inputs.params.value = t && t.params && Object.keys(t.params).length ? JSON.stringify(t.params, null, 2) : "";
  const preview = h("div", { class: "highlight", "aria-label": "System prompt with its variables marked", role: "region", "data-testid": "highlight" });
  const found = h("p", { class: "meta", "aria-live": "polite" });
  const refresh = () => {
    const all = inputs.system.value + "\n" + inputs.messages.value;
    clear(preview).append(...highlighted(inputs.system.value || " "));
    const names = slots(all);
    found.textContent = names.length ? `Variables: ${names.join(", ")}` : "No variables.";
  };
  inputs.system.addEventListener("input", refresh);
  inputs.messages.addEventListener("input", refresh);
  refresh();
  const out = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    { class: "card", "aria-label": t ? "Edit the template" : "New template" },
    h("h2", {}, t ? `Edit (saving makes version ${t.latest_version + 1})` : "New template"),
    h("div", { class: "row" }, field("Name", inputs.name), field("Default model", inputs.model), field("Description", inputs.description)),
    field("System prompt", inputs.system, "Write {{name}} where a request's variables go."),
    preview,
    found,
    field("Messages (JSON)", inputs.messages),
    field("Params (JSON)", inputs.params),
    h("button", { type: "submit" }, t ? "Save as a new version" : "Create template"),
    out,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear(out);
    try {
      const body = {
        name: inputs.name.value.trim(),
        description: inputs.description.value,
        system: inputs.system.value,
        model: inputs.model.value.trim() || null,
        variables: slots(inputs.system.value + "\n" + inputs.messages.value),
      };
      const messages = json(inputs.messages.value, "Messages");
      const params = json(inputs.params.value, "Params");
      body.messages = messages || [];
      body.params = params || {};
      const saved = t ? await api.patch(`/v1/templates/${t.id}`, body) : await api.post("/v1/templates", body);
      await onSaved(saved);
    } catch (err) {
      out.append(errorBox(err));
    }
  });
  return form;
}

async function versions(box, t, reload) {
  const list = (await api.get(`/v1/templates/${t.id}/versions`)).data;
  const report = h("div", { "aria-live": "assertive" });
  const pick = (name, value) => h("select", { name }, list.map((v) => h("option", { value: v.version, selected: v.version === value }, `version ${v.version}`)));
  const newest = list.reduce((a, v) => Math.max(a, v.version), 0);
  const from = pick("from", Math.max(1, newest - 1));
  const to = pick("to", newest);
  const diffBox = h("div", {});
  const showDiff = () => {
    const a = list.find((v) => v.version === Number(from.value));
    const b = list.find((v) => v.version === Number(to.value));
    clear(diffBox).append(diffView(asText(a), asText(b), `Changes from version ${a.version} to version ${b.version}`));
  };
  from.addEventListener("change", showDiff);
  to.addEventListener("change", showDiff);
  showDiff();
  return h(
    "div",
    {},
    table(
      "Versions",
      [
        { label: "Version", cell: (v) => String(v.version) },
        { label: "Saved", cell: (v) => when(v.updated_at) },
        { label: "By", cell: (v) => v.created_by || "—" },
        { label: "State", cell: (v) => (v.active ? badge("active", "ok") : "") },
        {
          label: "Action",
          cell: (v) =>
            v.active
              ? ""
              : h("button", {
                  type: "button",
                  class: "secondary",
                  "aria-label": `Make version ${v.version} the active one`,
                  onclick: async () => {
                    try {
                      await api.post(`/v1/templates/${t.id}/versions/${v.version}/activate`);
                      await reload();
                    } catch (err) {
                      clear(report).append(errorBox(err));
                    }
                  },
                }, "Activate"),
        },
      ],
      list,
    ),
    report,
    h("h2", {}, "Diff"),
    h("div", { class: "row" }, field("From", from), field("To", to)),
    diffBox,
  );
}

async function detail(root, id) {
  const box = h("div", {});
  root.append(heading("Template", h("a", { href: "#/templates" }, "All templates")), box);
  const reload = () =>
    load(box, async () => {
      const t = await api.get(`/v1/templates/${encodeURIComponent(id)}`);
      const vbox = h("div", {});
      await load(vbox, () => versions(vbox, t, reload));
      return h(
        "div",
        {},
        h("p", {}, h("strong", {}, t.name), " · ", badge(`active version ${t.version} of ${t.latest_version}`, "ok"), t.is_global ? [" ", badge("global")] : ""),
        editor(t, reload),
        vbox,
      );
    }, "Loading the template…");
  await reload();
}

export async function render(root, ctx) {
  if (ctx.args[0]) return detail(root, ctx.args[0]);
  const listBox = h("div", {});
  root.append(heading("Templates"), listBox);
  await load(listBox, async () => {
    const all = await api.get("/v1/templates");
    return table(
      "Templates",
      [
        { label: "Name", cell: (t) => h("a", { href: `#/templates/${encodeURIComponent(t.id)}` }, t.name) },
        { label: "Model", cell: (t) => t.model || "—" },
        { label: "Version", cell: (t) => `${t.version} of ${t.latest_version}` },
        { label: "Variables", cell: (t) => (t.variables || []).join(", ") || "—" },
        { label: "Scope", cell: (t) => (t.is_global ? badge("global") : t.owner) },
        { label: "Updated", cell: (t) => when(t.updated_at) },
      ],
      Array.isArray(all) ? all : all.data || [],
    );
  }, "Loading templates…");
  root.append(editor(null, async (saved) => { location.hash = `#/templates/${encodeURIComponent(saved.id)}`; }));
}
