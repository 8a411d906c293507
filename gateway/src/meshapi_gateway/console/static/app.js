// The console's shell: sign-in, the session, the page list and hash routing (#/keys, #/logs/<id>).

import * as api from "./api.js";
import { revokeDataKey } from "./data_key.js";
import { append, clear, errorBox, field, h } from "./dom.js";
import * as session from "./session.js";

const PAGES = [
  ["overview", "Overview"],
  ["keys", "Keys"],
  ["teams", "Teams"],
  ["models", "Models"],
  ["logs", "Request log"],
  ["templates", "Templates"],
  ["playground", "Playground"],
  ["compare", "Compare"],
  ["batches", "Batches"],
];

const main = document.getElementById("main");
const header = document.querySelector("header.top");
const nav = document.getElementById("nav");
let notice = "";

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const name = PAGES.some(([id]) => id === parts[0]) ? parts[0] : "overview";
  return { name, args: parts.slice(1) };
}

function signInForm() {
  const input = h("input", { type: "password", name: "token", autocomplete: "off", required: true, spellcheck: false });
  const status = h("div", { "aria-live": "assertive" });
  if (notice) status.append(h("p", { class: "notice", role: "status" }, notice));
  notice = "";
  const form = h(
    "form",
    { class: "card sign-in", "aria-labelledby": "sign-in-title" },
    h("h1", { id: "sign-in-title" }, "Sign in to the MeshAPI console"),
    field("Admin token or control-plane token", input, "The token stays in this browser tab and is sent to this gateway only."),
    h("button", { type: "submit" }, "Sign in"),
    status,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clear(status);
    await signIn(input.value.trim(), status);
  });
  clear(main).append(form);
  input.focus();
}

async function signIn(token, status) {
  const info = session.describe(token);
  if (info.kind === "key") {
    status.append(errorBox("An rsk_ key is for the data plane: sign in with the admin token or a control-plane token."));
    return false;
  }
  try {
    // GET /v1/keys takes exactly the admin token and control-plane tokens.
    await api.get("/v1/keys", undefined, { token });
  } catch (err) {
    status.append(errorBox(err.status === 401 ? "The gateway did not accept this token." : err));
    return false;
  }
  session.start(token, info.kind, info.owner, info.exp);
  render();
  return true;
}

function buildNav(active) {
  clear(nav);
  const list = h("ul", {});
  for (const [id, label] of PAGES) {
    const link = h("a", { href: `#/${id}` }, label);
    if (id === active) link.setAttribute("aria-current", "page");
    list.append(h("li", {}, link));
  }
  nav.append(list);
}

let renderSeq = 0;
async function render() {
  const s = session.current();
  if (!s || s.expired) {
    if (s && s.expired) notice = "Your session has expired. Sign in again.";
    header.hidden = true;
    signInForm();
    return;
  }
  header.hidden = false;
  header.querySelector(".who").textContent = s.kind === "admin" ? "Signed in as the admin" : `Signed in as ${s.owner}`;
  const { name, args } = route();
  buildNav(name);
  nav.classList.remove("open");
  header.querySelector(".menu-toggle").setAttribute("aria-expanded", "false");
  const seq = ++renderSeq;
  const page = h("section", { class: `page page-${name}`, "aria-busy": "true" });
  clear(main).append(page);
  try {
    const mod = await import(`./page_${name}.js`);
    if (seq !== renderSeq) return;
    await mod.render(page, { args, session: s });
  } catch (err) {
    append(page, [errorBox(err)]);
  } finally {
    page.setAttribute("aria-busy", "false");
  }
  document.title = `${PAGES.find(([id]) => id === name)[1]} · MeshAPI console`;
}

function takeTokenFromFragment() {
  // The sign-in link `dev.py start` prints carries the token in the fragment, which browsers never
  // send to the server; it is stored and removed from the address bar and history at once.
  const m = location.hash.match(/^#token=([^&]+)/);
  if (!m) return null;
  history.replaceState(null, "", `${location.pathname}#/overview`);
  return decodeURIComponent(m[1]);
}

api.onUnauthorized(() => {
  session.end();
  notice = "Your session has ended (the gateway no longer accepts its token). Sign in again.";
  render();
});

header.querySelector(".sign-out").addEventListener("click", async () => {
  try {
    await revokeDataKey();
  } catch {
    // The key expires with the session anyway.
  }
  session.end();
  notice = "Signed out.";
  // Replaced, not assigned: a hashchange would render the sign-in form a second time, without the notice.
  history.replaceState(null, "", location.pathname);
  render();
});
header.querySelector(".menu-toggle").addEventListener("click", (ev) => {
  const open = nav.classList.toggle("open");
  ev.currentTarget.setAttribute("aria-expanded", String(open));
});
window.addEventListener("hashchange", () => render());
// An idle or expired session is noticed even when nothing is clicked.
setInterval(() => {
  const s = session.current();
  if (s && s.expired) render();
}, 30_000);

const fromLink = takeTokenFromFragment();
if (fromLink) {
  const status = h("div", {});
  clear(main).append(status);
  signIn(fromLink, status).then((ok) => {
    if (!ok) {
      notice = "The sign-in link was not accepted (it may have expired). Sign in with a token.";
      signInForm();
    }
  });
} else {
  render();
}
