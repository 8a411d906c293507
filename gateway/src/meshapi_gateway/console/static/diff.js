// A line diff (longest common subsequence) for comparing two template versions, as DOM lines.

import { h } from "./dom.js";

export function diffLines(a, b) {
  const x = a.split("\n");
  const y = b.split("\n");
  const n = x.length;
  const m = y.length;
  const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) {
      out.push(["same", x[i]]);
      i++;
      j++;
    } else if (j < m && (i === n || lcs[i][j + 1] >= lcs[i + 1][j])) out.push(["add", y[j++]]);
    else out.push(["del", x[i++]]);
  }
  return out;
}

export function diffView(a, b, label) {
  const marks = { same: "  ", add: "+ ", del: "- " };
  const names = { same: "unchanged", add: "added", del: "removed" };
  return h(
    "div",
    { class: "diff card", role: "region", "aria-label": label },
    diffLines(a, b).map(([kind, line]) => h("span", { class: kind, "data-kind": kind }, h("span", { class: "sr-only" }, `${names[kind]}: `), marks[kind] + line)),
  );
}
