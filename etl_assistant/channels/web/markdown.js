// Safe markdown -> DOM for assistant replies: every piece of text goes in through textContent, never innerHTML.
// Covers what the assistant writes: paragraphs, headings, lists, block quotes (tool steps), fenced code
// (DDL / SQL), pipe tables, rules, and inline code / bold / italic / http(s) links.
"use strict";

(function () {
  const FENCE = /^\s*(```|~~~)\s*([\w+-]*)\s*$/;
  const HEADING = /^(#{1,6})\s+(.*)$/;
  const RULE = /^\s*([-*_])(\s*\1){2,}\s*$/;
  const BULLET = /^\s*[-*+]\s+(.*)$/;
  const ORDERED = /^\s*(\d+)[.)]\s+(.*)$/;
  const QUOTE = /^\s*>\s?(.*)$/;
  const TABLE_SEP = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
  const INLINE = /(`+)([\s\S]*?[^`])\1(?!`)|\*\*([^*]+)\*\*|__([^_]+)__|\*([^*\s][^*]*)\*|\b_([^_\s][^_]*)_\b|\[([^\]]+)\]\(([^)\s]+)\)/g;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function inline(parent, text) {
    let last = 0;
    for (const m of text.matchAll(INLINE)) { // matchAll copies the regex, so recursion cannot disturb it
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      if (m[1]) parent.appendChild(el("code", "", m[2]));
      else if (m[3] || m[4]) inline(parent.appendChild(el("strong")), m[3] || m[4]);
      else if (m[5] || m[6]) inline(parent.appendChild(el("em")), m[5] || m[6]);
      else parent.appendChild(link(m[7], m[8]));
      last = m.index + m[0].length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
    return parent;
  }

  function link(label, href) {
    if (!/^(https?:\/\/|\/(?!\/))/i.test(href)) return document.createTextNode(`${label} (${href})`);
    const a = el("a", "", label);
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    return a;
  }

  function splitRow(line) {
    let row = line.trim();
    if (row.startsWith("|")) row = row.slice(1);
    if (row.endsWith("|") && !row.endsWith("\\|")) row = row.slice(0, -1);
    const cells = [];
    let current = "";
    for (let i = 0; i < row.length; i += 1) {
      if (row[i] === "\\" && row[i + 1] === "|") { current += "|"; i += 1; }
      else if (row[i] === "|") { cells.push(current.trim()); current = ""; }
      else current += row[i];
    }
    cells.push(current.trim());
    return cells;
  }

  function alignments(separator) {
    return splitRow(separator).map((cell) => {
      const left = cell.startsWith(":");
      const right = cell.endsWith(":");
      return left && right ? "center" : right ? "right" : left ? "left" : "";
    });
  }

  function table(lines) {
    const wrap = el("div", "table-wrap");
    const tableEl = wrap.appendChild(el("table"));
    const align = alignments(lines[1]);
    const headRow = tableEl.appendChild(el("thead")).appendChild(el("tr"));
    const header = splitRow(lines[0]);
    header.forEach((cell, i) => {
      const th = inline(headRow.appendChild(el("th")), cell);
      if (align[i]) th.style.textAlign = align[i];
    });
    const body = tableEl.appendChild(el("tbody"));
    for (const line of lines.slice(2)) {
      const tr = body.appendChild(el("tr"));
      const cells = splitRow(line);
      for (let i = 0; i < header.length; i += 1) {
        const td = inline(tr.appendChild(el("td")), cells[i] === undefined ? "" : cells[i]);
        if (align[i]) td.style.textAlign = align[i];
      }
    }
    return wrap;
  }

  function codeBlock(lang, code) {
    const figure = el("figure", "code-block");
    const bar = figure.appendChild(el("figcaption"));
    bar.appendChild(el("span", "lang", lang || "text"));
    const copy = bar.appendChild(el("button", "copy", "Copy"));
    copy.type = "button";
    copy.addEventListener("click", () => {
      const done = () => { copy.textContent = "Copied"; setTimeout(() => { copy.textContent = "Copy"; }, 1200); };
      if (navigator.clipboard) navigator.clipboard.writeText(code).then(done, () => {});
    });
    const pre = figure.appendChild(el("pre"));
    const codeEl = pre.appendChild(el("code", lang ? `language-${lang.toLowerCase()}` : "", code));
    codeEl.dataset.lang = (lang || "").toLowerCase();
    return figure;
  }

  function list(lines, ordered) {
    const listEl = el(ordered ? "ol" : "ul");
    if (ordered) {
      const first = ORDERED.exec(lines[0]);
      if (first && first[1] !== "1") listEl.start = Number(first[1]);
    }
    for (const line of lines) {
      const m = ordered ? ORDERED.exec(line) : BULLET.exec(line);
      if (m) inline(listEl.appendChild(el("li")), ordered ? m[2] : m[1]);
      else if (listEl.lastChild) inline(listEl.lastChild, ` ${line.trim()}`);
    }
    return listEl;
  }

  function isTableStart(lines, i) {
    return lines[i].includes("|") && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1])
      && lines[i + 1].includes("-");
  }

  function startsBlock(lines, i) {
    const line = lines[i];
    return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || BULLET.test(line)
      || ORDERED.test(line) || QUOTE.test(line) || isTableStart(lines, i);
  }

  // Render markdown text into a DocumentFragment of safe DOM nodes.
  function render(text) {
    const out = document.createDocumentFragment();
    const lines = String(text || "").replace(/\r\n?/g, "\n").split("\n");
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      if (!line.trim()) { i += 1; continue; }
      const fence = FENCE.exec(line);
      if (fence) {
        const body = [];
        i += 1;
        while (i < lines.length && !(lines[i].trim().startsWith(fence[1]) && !lines[i].trim().slice(3).trim())) {
          body.push(lines[i]);
          i += 1;
        }
        i += 1;
        out.appendChild(codeBlock(fence[2], body.join("\n")));
        continue;
      }
      const heading = HEADING.exec(line);
      if (heading) {
        out.appendChild(inline(el(`h${Math.min(heading[1].length + 1, 6)}`), heading[2]));
        i += 1;
        continue;
      }
      if (RULE.test(line)) { out.appendChild(el("hr")); i += 1; continue; }
      if (isTableStart(lines, i)) {
        const rows = [lines[i], lines[i + 1]];
        i += 2;
        while (i < lines.length && lines[i].trim() && lines[i].includes("|")) { rows.push(lines[i]); i += 1; }
        out.appendChild(table(rows));
        continue;
      }
      if (QUOTE.test(line)) {
        const quoted = [];
        while (i < lines.length && QUOTE.test(lines[i])) { quoted.push(QUOTE.exec(lines[i])[1]); i += 1; }
        const quote = el("blockquote");
        quote.appendChild(render(quoted.join("\n")));
        out.appendChild(quote);
        continue;
      }
      const ordered = ORDERED.test(line);
      if (ordered || BULLET.test(line)) {
        const items = [];
        const pattern = ordered ? ORDERED : BULLET;
        while (i < lines.length && lines[i].trim()
               && (pattern.test(lines[i]) || (/^\s{2,}\S/.test(lines[i]) && !startsBlock(lines, i)))) {
          items.push(lines[i]);
          i += 1;
        }
        out.appendChild(list(items, ordered));
        continue;
      }
      const para = [];
      while (i < lines.length && lines[i].trim() && (para.length === 0 || !startsBlock(lines, i))) {
        para.push(lines[i].trim());
        i += 1;
      }
      const p = el("p");
      para.forEach((part, n) => {
        if (n) p.appendChild(el("br"));
        inline(p, part);
      });
      out.appendChild(p);
    }
    return out;
  }

  window.EtlMarkdown = { render };
})();
