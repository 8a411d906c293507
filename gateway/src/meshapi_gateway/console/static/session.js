// The signed-in session: the token lives in this tab's sessionStorage only and is sent as a Bearer
// header. No cookie is ever set, so another site cannot make the browser act with it (no CSRF), and
// closing the tab ends the session. A session also ends after SESSION_HOURS, after IDLE_MINUTES
// without activity, or when the token itself expires.

const KEY = "meshapi.console.session";
const PLAY_KEY = "meshapi.console.playkey";
export const SESSION_HOURS = 8;
export const IDLE_MINUTES = 30;

function decodeJwt(token) {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const json = atob(parts[1].replace(/-/g, "+").replace(/_/g, "/"));
    return JSON.parse(json);
  } catch {
    return null;
  }
}

// What the console can tell about a token before asking the gateway: a JWT's owner and expiry.
export function describe(token) {
  if (token.startsWith("rsk_")) return { kind: "key" };
  const claims = decodeJwt(token);
  if (claims) return { kind: "control", owner: claims.sub || "", exp: claims.exp ? claims.exp * 1000 : null };
  return { kind: "admin", owner: "@admin", exp: null };
}

export function start(token, kind, owner, exp) {
  const now = Date.now();
  const ends = Math.min(now + SESSION_HOURS * 3600e3, exp || Infinity);
  sessionStorage.setItem(KEY, JSON.stringify({ token, kind, owner, ends, seen: now }));
}

export function current() {
  let s;
  try {
    s = JSON.parse(sessionStorage.getItem(KEY) || "null");
  } catch {
    s = null;
  }
  if (!s || !s.token) return null;
  const now = Date.now();
  if (now >= s.ends || now - s.seen > IDLE_MINUTES * 60e3) {
    end();
    return { expired: true };
  }
  return s;
}

export function touch() {
  const s = current();
  if (s && !s.expired) {
    s.seen = Date.now();
    sessionStorage.setItem(KEY, JSON.stringify(s));
  }
}

export function end() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(PLAY_KEY);
  sessionStorage.removeItem(PLAY_KEY + ".id");
}

// The data-plane key the playground uses for a control-plane session (made through POST /v1/keys).
export function playKey() {
  return sessionStorage.getItem(PLAY_KEY);
}

export function setPlayKey(key, id) {
  sessionStorage.setItem(PLAY_KEY, key);
  sessionStorage.setItem(PLAY_KEY + ".id", id);
}

export function playKeyId() {
  return sessionStorage.getItem(PLAY_KEY + ".id");
}
