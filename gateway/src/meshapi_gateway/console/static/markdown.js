// A small markdown subset for model answers (code blocks, inline code, bold, italics, lists,
// paragraphs), built as DOM nodes with text content only: there is no way for an answer to
// produce markup, links or images. Anything else shows as the plain text it is.

import { h } from "./dom.js";

function inline(text) {
  const out = [];
  const re = /(`[^`\n]+`|\*\*[^*\n]+\*\*|\*[^*\n]+\*)/g;
  let last = 0;
  let m;
  while ((m = re.exec(text))) {
    if (m.index > last) out.push(text.slice(last, m.index));
    const tok = m[0];
    if (tok.startsWith("`")) out.push(h("code", {}, tok.slice(1, -1)));
    else if (tok.startsWith("**")) out.push(h("strong", {}, tok.slice(2, -2)));
    else out.push(h("em", {}, tok.slice(1, -1)));
    last = m.index + tok.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function lines(text) {
  const out = [];
  text.split("\n").forEach((line, i) => {
    if (i) out.push(h("br"));
    out.push(inline(line));
  });
  return out;
}

export function markdown(source) {
  const root = h("div", { class: "md" });
  const parts = source.split(/```/);
  parts.forEach((part, i) => {
    if (i % 2 === 1) {
      const nl = part.indexOf("\n");
      const body = nl >= 0 && /^[\w+-]*$/.test(part.slice(0, nl).trim()) ? part.slice(nl + 1) : part;
      root.append(h("pre", {}, h("code", {}, body.replace(/\n$/, ""))));
      return;
    }
    for (const raw of part.split(/\n{2,}/)) {
      if (!raw.trim()) continue;
      // Heading lines become headings of their own; the rest of the block follows.
      const rest = [];
      for (const line of raw.split("\n")) {
        const m = line.match(/^(#{1,6})\s+(.*)$/);
        if (m) {
          if (rest.length) root.append(block(rest.splice(0)));
          root.append(h(`h${Math.min(m[1].length + 2, 6)}`, {}, inline(m[2])));
        } else rest.push(line);
      }
      if (rest.length) root.append(block(rest));
    }
  });
  return root;
}

// A paragraph, or a list when every line is an item.
function block(items) {
  if (items.every((l) => /^\s*([-*]|\d+\.)\s+/.test(l))) {
    const ordered = /^\s*\d+\./.test(items[0]);
    return h(ordered ? "ol" : "ul", {}, items.map((l) => h("li", {}, inline(l.replace(/^\s*([-*]|\d+\.)\s+/, "")))));
  }
  return h("p", {}, lines(items.join("\n")));
}
