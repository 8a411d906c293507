// The chat models of the catalog (GET /v1/models), shared by the playground, compare and templates.

import * as api from "./api.js";
import { h } from "./dom.js";

let cached = null;

export async function chatModels() {
  if (!cached) {
    const answer = await api.get("/v1/models");
    const all = Array.isArray(answer) ? answer : answer.data || [];
    cached = all.filter((m) => m.model_type !== "embedding" && m.supports_completions_api !== false).map((m) => m.id);
  }
  return cached;
}

export function modelSelect(models, name, selected) {
  return h("select", { name }, models.map((id) => h("option", { value: id, selected: id === selected }, id)));
}
