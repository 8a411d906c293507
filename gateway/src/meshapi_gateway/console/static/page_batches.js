// Batches: the owner's batches with their progress, and the output and error files to download
// (GET /v1/batches, GET /v1/files/{id}/content).

import * as api from "./api.js";
import { ensureDataKey } from "./data_key.js";
import { badge, errorBox, h, heading, load, table, when } from "./dom.js";

async function download(fileId, name, report) {
  try {
    const resp = await fetch(`/v1/files/${encodeURIComponent(fileId)}/content`, {
      headers: { authorization: `Bearer ${api.tokenFor("data")}` },
      credentials: "omit",
      cache: "no-store",
    });
    if (!resp.ok) throw new api.ApiError(resp.status, await resp.json().catch(() => null));
    const url = URL.createObjectURL(await resp.blob());
    const a = h("a", { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (err) {
    report.replaceChildren(errorBox(err));
  }
}

function progress(b) {
  const c = b.request_counts || {};
  const total = c.total || 0;
  const done = (c.completed || 0) + (c.failed || 0);
  const pct = total ? Math.round((done / total) * 100) : 0;
  const bar = h("span", {});
  bar.style.width = `${pct}%`;
  return h("div", {}, `${done} of ${total} (${c.failed || 0} failed)`, h("div", { class: "meter", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(pct), "aria-label": `Progress of ${b.id}` }, bar));
}

export async function render(root) {
  const box = h("div", {});
  const report = h("div", { "aria-live": "assertive" });
  root.append(heading("Batches"), report, box);
  await load(box, async () => {
    await ensureDataKey();
    const list = (await api.get("/v1/batches", { limit: 100 }, { realm: "data" })).data;
    const file = (id, label, b) => (id ? h("button", { type: "button", class: "secondary", onclick: () => download(id, `${b.id}-${label}.jsonl`, report) }, `Download ${label}`) : "");
    return table(
      "Batches, newest first",
      [
        { label: "Batch", cell: (b) => h("code", {}, b.id) },
        { label: "Status", cell: (b) => badge(b.status, b.status === "completed" ? "ok" : b.status === "failed" ? "bad" : "warn") },
        { label: "Endpoint", cell: (b) => b.endpoint },
        { label: "Progress", cell: progress },
        { label: "Created", cell: (b) => when(b.created_at) },
        { label: "Files", cell: (b) => h("div", { class: "actions" }, file(b.output_file_id, "output", b), file(b.error_file_id, "errors", b)) },
      ],
      list,
    );
  }, "Loading batches…");
}
