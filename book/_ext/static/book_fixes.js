/* book_fixes.py, every page: text that reads on a phone (book_fixes.css
 * styles what this marks). The stored notebooks are not changed; only how
 * the page lays them out.
 *
 * 1. Checked claims wrap. Every claim in a cell's printed output, a line
 *    that starts with "✓ " (what sparse_ae.display.check prints) with its
 *    indented continuation lines, is put in one span.sparse-ae-claim, which
 *    wraps at the width of the output block with a hanging indent. Other
 *    printed lines (tables of numbers, training logs) keep their columns
 *    and scroll sideways where they do not fit.
 * 2. Numbers never break inside themselves. A number with a sign or an
 *    exponent ("-0.05", "4.649e-02") in the text, in a table or in a
 *    checked claim is put in a span.sparse-ae-number that does not wrap:
 *    browsers otherwise break a line after its minus sign.
 * 3. Inline code breaks only between tokens: after "( [ , = /", after a
 *    "." before a name, and at spaces; never inside an identifier or a
 *    number (kullback_leibler_divergence, 1e-3, 1.7e-05).
 * 4. A table wider than its block scrolls inside it and says so: the block
 *    gets the class sparse-ae-wide (it fades out at the edge that hides more
 *    columns until it is scrolled to its end, and keeps its first column in
 *    view) and a line above it, "Scroll the table sideways for more
 *    columns". It is measured again when the window is resized.
 * 5. The chapter list shows the current chapter. The theme restores the
 *    list's scroll position from the previous page, which can leave the
 *    current chapter below the bottom of a laptop's screen; if it is out
 *    of view, the list is scrolled to show it.
 */
(() => {
  const ARTICLE = ".bd-article";
  const SKIP = "pre, code, script, style, textarea, mjx-container, .math, .sparse-ae-number";

  // Signed or exponent numbers: -0.05, −3, +2, 4.649e-02, 1e-3, 10%.
  const NUMBER = /[-−+]?\d[\d,]*(?:\.\d+)?(?:[eE][-−+]?\d+)?%?/g;
  const BREAKABLE = /[-−+]/;

  const wrapMatches = (node, pattern, wanted, make) => {
    const text = node.data;
    const parts = [];
    let last = 0;
    for (const match of text.matchAll(pattern)) {
      if (!wanted(match)) continue;
      parts.push(text.slice(last, match.index), make(match[0]));
      last = match.index + match[0].length;
    }
    if (!parts.length) return;
    parts.push(text.slice(last));
    node.replaceWith(...parts.filter((p) => p !== ""));
  };

  const numberSpan = (text) => {
    const span = document.createElement("span");
    span.className = "sparse-ae-number";
    span.textContent = text;
    return span;
  };

  const wrapNumbers = (root, skip) => {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
      acceptNode: (node) =>
        (skip && node.parentElement.closest(skip)) || !BREAKABLE.test(node.data)
          ? NodeFilter.FILTER_REJECT
          : NodeFilter.FILTER_ACCEPT,
    });
    const nodes = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) nodes.push(node);
    for (const node of nodes) wrapMatches(node, NUMBER, (m) => BREAKABLE.test(m[0]), numberSpan);
  };

  // 1. Checked claims: a line of an output block that starts with "✓ ",
  // and the lines after it that continue it (check() wraps a claim at 76
  // columns, indenting its continuation by two spaces). The claim becomes
  // one line, which the browser wraps at the block's width.
  const CLAIM = /(^|\n)(✓ [^\n]*(?:\n {2}(?! )[^\n]*)*)/g;
  const wrapClaims = (article) => {
    for (const pre of article.querySelectorAll(".cell_output pre")) {
      const text = pre.textContent;
      // Plain printed text only (no colours): its text is all there is.
      if (!text.includes("✓") || [...pre.children].some((child) => child.textContent)) continue;
      const parts = [];
      let last = 0;
      for (const match of text.matchAll(CLAIM)) {
        const start = match.index + match[1].length;
        const claim = document.createElement("span");
        claim.className = "sparse-ae-claim";
        claim.textContent = match[2].replace(/\n {2}/g, " ");
        parts.push(text.slice(last, start), claim);
        last = start + match[2].length;
      }
      if (!parts.length) continue;
      parts.push(text.slice(last));
      pre.replaceChildren(...parts.filter((p) => p !== ""));
      for (const claim of pre.querySelectorAll(".sparse-ae-claim")) wrapNumbers(claim, null);
    }
  };

  // 3. Inline code: break after "( [ , = /", and after a "." that starts a
  // name (keras.|ops, not 1.|5), and nowhere else.
  const BREAK_AFTER = /(?:[^.([,=/]|\.(?![A-Za-z_]))+(?:[([,=/]|\.(?=[A-Za-z_]))*|(?:[([,=/]|\.(?=[A-Za-z_]))+/g;
  const breakInlineCode = (article) => {
    for (const pre of article.querySelectorAll("code.literal span.pre")) {
      if (pre.closest("table") || pre.childElementCount) continue;
      const pieces = pre.textContent.match(BREAK_AFTER) || [];
      if (pieces.join("") !== pre.textContent) continue;
      if (pieces.length < 2 && !BREAKABLE.test(pre.textContent)) {
        pre.classList.add("sparse-ae-token");
        continue;
      }
      pre.replaceChildren(
        ...pieces.flatMap((piece, i) => {
          const span = document.createElement("span");
          span.className = "sparse-ae-token";
          span.textContent = piece;
          return i ? [document.createElement("wbr"), span] : [span];
        }),
      );
    }
  };

  // 4. Wide tables.
  const scroller = (table) => {
    for (let el = table.parentElement; el && !el.matches(ARTICLE); el = el.parentElement) {
      const overflow = getComputedStyle(el).overflowX;
      if (overflow === "auto" || overflow === "scroll") return el;
    }
    return null;
  };
  const markWideTables = (article) => {
    for (const table of article.querySelectorAll("table")) {
      const box = scroller(table);
      if (!box) continue;
      const wide = box.scrollWidth > box.clientWidth + 1;
      box.classList.toggle("sparse-ae-wide", wide);
      if (wide && !box.dataset.sparseAeWatched) {
        box.dataset.sparseAeWatched = "1";
        const atEnd = () => box.classList.toggle(
          "sparse-ae-scrolled-to-end", box.scrollLeft + box.clientWidth >= box.scrollWidth - 1);
        box.addEventListener("scroll", atEnd, { passive: true });
        atEnd();
      }
      let hint = box.previousElementSibling;
      if (!(hint && hint.classList.contains("sparse-ae-scroll-hint"))) {
        if (!wide) continue;
        hint = document.createElement("p");
        hint.className = "sparse-ae-scroll-hint";
        hint.textContent = "Scroll the table sideways for more columns ⇢";
        box.before(hint);
      }
      hint.hidden = !wide;
    }
  };

  // 5. The current chapter in view in the chapter list.
  const showCurrentChapter = () => {
    const sidebar = document.querySelector(".bd-sidebar-primary");
    const links = document.querySelectorAll("nav.bd-docs-nav li.active > a, nav.bd-docs-nav a.current");
    const link = links[links.length - 1];
    if (!sidebar || !link || !sidebar.clientHeight || !link.offsetParent) return;
    const box = sidebar.getBoundingClientRect();
    const bottom = Math.min(box.bottom, window.innerHeight);
    const here = link.getBoundingClientRect();
    if (here.top >= box.top && here.bottom <= bottom) return;
    sidebar.scrollTop += here.top - box.top - (bottom - box.top) * 0.25;
  };

  const run = () => {
    const article = document.querySelector(ARTICLE);
    if (article) {
      wrapClaims(article);
      wrapNumbers(article, SKIP);
      breakInlineCode(article);
      markWideTables(article);
      let pending = null;
      window.addEventListener("resize", () => {
        cancelAnimationFrame(pending);
        pending = requestAnimationFrame(() => markWideTables(article));
      });
    }
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run);
  else run();
  // After the theme's own sidebar scrolling, which runs when the page loads.
  if (document.readyState === "complete") showCurrentChapter();
  else window.addEventListener("load", () => setTimeout(showCurrentChapter, 0));
})();
