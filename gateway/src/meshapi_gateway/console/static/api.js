// Every call the console makes: the gateway's public API with the session's Bearer token.
// An error answer becomes an Error carrying the envelope's code, message and field details.

import * as session from "./session.js";

export class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    const detail = Array.isArray(e.details) && e.details.length ? e.details[0] : null;
    const where = detail && Array.isArray(detail.loc) ? ` [${detail.loc.join(".")}]` : "";
    const msg = detail && detail.msg ? `${e.message || "Error"} ${detail.msg}${where}` : e.message || `HTTP ${status}`;
    super(msg);
    this.status = status;
    this.code = e.code || `http_${status}`;
    this.details = e.details || [];
  }
}

const listeners = [];
export function onUnauthorized(fn) {
  listeners.push(fn);
}

export function tokenFor(kind) {
  const s = session.current();
  if (!s || s.expired) return null;
  if (kind === "data" && s.kind === "control") return session.playKey();
  return s.token;
}

async function raw(method, path, { body, query, token, signal, realm } = {}) {
  const t = token || tokenFor(realm);
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  const headers = { accept: "application/json" };
  if (t) headers.authorization = `Bearer ${t}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  session.touch();
  const resp = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
    credentials: "omit",
    cache: "no-store",
  });
  if (resp.status === 401 && !token) listeners.forEach((fn) => fn());
  return resp;
}

export async function call(method, path, opts = {}) {
  const resp = await raw(method, path, opts);
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

export const get = (path, query, opts = {}) => call("GET", path, { ...opts, query });
export const post = (path, body, opts = {}) => call("POST", path, { ...opts, body });
export const patch = (path, body, opts = {}) => call("PATCH", path, { ...opts, body });
export const del = (path, opts = {}) => call("DELETE", path, opts);

// A streamed POST: calls onEvent(eventName, json) for every SSE frame until [DONE].
export async function stream(path, body, onEvent, opts = {}) {
  const resp = await raw("POST", path, { ...opts, body });
  if (!resp.ok) {
    let data = null;
    try {
      data = await resp.json();
    } catch {
      data = null;
    }
    throw new ApiError(resp.status, data);
  }
  if (opts.onResponse) opts.onResponse(resp);
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
      let name = "message";
      const data = [];
      for (const line of frame.split(/\r?\n/)) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (!data.length) continue;
      const payload = data.join("\n");
      if (payload === "[DONE]") return;
      let json;
      try {
        json = JSON.parse(payload);
      } catch {
        continue;
      }
      if (json && json.error && !json.event) throw new ApiError(500, json);
      onEvent(name, json);
    }
  }
}
