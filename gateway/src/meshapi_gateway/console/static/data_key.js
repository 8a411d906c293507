// The data-plane key a control-plane session calls models with. Chat and compare take an rsk_ key
// (or the admin token); a signed-in owner gets one made through POST /v1/keys, named so, that
// expires with the session, and kept in this tab's sessionStorage like the token; signing out revokes it.

import * as api from "./api.js";
import * as session from "./session.js";

export async function ensureDataKey() {
  const s = session.current();
  if (!s || s.expired || s.kind === "admin" || session.playKey()) return;
  const expires = new Date(s.ends + 60_000).toISOString().replace(/\.\d+Z$/, "Z");
  const created = await api.post("/v1/keys", { name: "console playground", expires_at: expires });
  session.setPlayKey(created.key, created.id);
}

// Signing out revokes the session's key at once instead of leaving it until it expires.
export async function revokeDataKey() {
  const id = session.playKeyId();
  if (id) await api.del(`/v1/keys/${encodeURIComponent(id)}`);
}
