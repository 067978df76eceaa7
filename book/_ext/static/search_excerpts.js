/* book_fixes.py, search page only: search excerpts from the page's text,
 * with its math shown as text.
 *
 * Sphinx's search page shows an excerpt of each result's page around the
 * first word searched for, taken from the page's [role="main"] element.
 * In this theme that element also holds the page's header, a print-only
 * contents list and the previous/next links, so a search for "KL
 * divergence" showed "previous 1. Data and a baseline next 3. Measuring
 * sparsity: the KL divergence" as the excerpt of chapter 2. Sphinx now
 * reads the page's article alone, without its code cells.
 *
 * In the fetched page, inline math is still the TeX that MathJax renders
 * in the page itself, so excerpts read "\(\beta = 0.05\)". This wraps
 * Search.htmlToText (searchtools.js, Sphinx 7.4) so that the TeX inside every
 * `.math` element is first turned into plain text: Greek letters and common
 * symbols become Unicode, ^{..} and _{..} become super- and subscripts where
 * Unicode has them (else ^(..) and _..), \frac{a}{b} becomes a/b, and other
 * commands, delimiters and braces are dropped: "β = 0.05", "10⁻³", "ρ̂ⱼ".
 * If searchtools.js changes, this does nothing rather than break search.
 */
(() => {
  if (typeof Search === "undefined" || typeof Search.htmlToText !== "function") return;

  const SYMBOLS = {
    alpha: "α", beta: "β", gamma: "γ", delta: "δ", epsilon: "ε", varepsilon: "ε",
    zeta: "ζ", eta: "η", theta: "θ", vartheta: "ϑ", iota: "ι", kappa: "κ",
    lambda: "λ", mu: "μ", nu: "ν", xi: "ξ", pi: "π", rho: "ρ", sigma: "σ",
    tau: "τ", upsilon: "υ", phi: "ϕ", varphi: "φ", chi: "χ", psi: "ψ", omega: "ω",
    Gamma: "Γ", Delta: "Δ", Theta: "Θ", Lambda: "Λ", Xi: "Ξ", Pi: "Π",
    Sigma: "Σ", Phi: "Φ", Psi: "Ψ", Omega: "Ω",
    ell: "ℓ", cdot: "·", times: "×", div: "÷", pm: "±", le: "≤", leq: "≤",
    ge: "≥", geq: "≥", ne: "≠", neq: "≠", approx: "≈", sim: "∼", propto: "∝",
    equiv: "≡", infty: "∞", partial: "∂", nabla: "∇", sum: "∑", prod: "∏",
    int: "∫", in: "∈", notin: "∉", subset: "⊂", subseteq: "⊆", cup: "∪",
    cap: "∩", forall: "∀", exists: "∃", to: "→", rightarrow: "→",
    leftarrow: "←", Rightarrow: "⇒", mapsto: "↦", ldots: "…", dots: "…",
    cdots: "⋯", langle: "⟨", rangle: "⟩", lVert: "‖", rVert: "‖", Vert: "‖",
    lvert: "|", rvert: "|", vert: "|", mid: "|", top: "⊤", sqrt: "√",
    log: " log ", ln: " ln ", exp: " exp ", min: " min ", max: " max ",
    arg: " arg ", argmin: " argmin ", argmax: " argmax ", quad: " ", qquad: " ",
    left: "", right: "", big: "", Big: "", bigg: "", Bigg: "", displaystyle: "",
    // one-character commands; escaped braces are kept apart from TeX's groups
    ",": " ", ";": " ", ":": " ", "!": "", " ": " ", "|": "‖",
    "{": "\uE000", "}": "\uE001",
  };
  const SUPERSCRIPTS = {
    0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹",
    "+": "⁺", "-": "⁻", "−": "⁻", "=": "⁼", "(": "⁽", ")": "⁾", n: "ⁿ", i: "ⁱ",
    k: "ᵏ", T: "ᵀ", "⊤": "ᵀ",
  };
  const SUBSCRIPTS = {
    0: "₀", 1: "₁", 2: "₂", 3: "₃", 4: "₄", 5: "₅", 6: "₆", 7: "₇", 8: "₈", 9: "₉",
    "+": "₊", "-": "₋", "=": "₌", "(": "₍", ")": "₎", a: "ₐ", e: "ₑ", h: "ₕ",
    i: "ᵢ", j: "ⱼ", k: "ₖ", l: "ₗ", m: "ₘ", n: "ₙ", o: "ₒ", p: "ₚ", r: "ᵣ",
    s: "ₛ", t: "ₜ", u: "ᵤ", v: "ᵥ", x: "ₓ",
  };
  const ACCENTS = {
    hat: "\u0302", widehat: "\u0302", bar: "\u0304", overline: "\u0305",
    tilde: "\u0303", widetilde: "\u0303", vec: "\u20d7", dot: "\u0307",
  };
  const STYLES = "mathrm|mathbf|mathit|mathsf|mathtt|mathcal|mathbb|boldsymbol|operatorname|text|textrm|textbf|textit|mbox";
  const ACCENT = Object.keys(ACCENTS).join("|");

  const MARKS = { "^": "\uE002", _: "\uE003" };
  const script = (text, table, mark) => {
    const chars = [...text.replace(/\s+/g, "")];
    if (chars.length && chars.every((c) => c in table)) return chars.map((c) => table[c]).join("");
    const plain = chars.join("");
    // The mark is a stand-in until the end, so that the next pass does not
    // read the "(" after it as another one-character script.
    return MARKS[mark] + (chars.length > 1 && /[^\p{L}\p{N}]/u.test(plain) ? `(${plain})` : plain);
  };
  const group = (x) => (/[\s+\-−·×/]/.test(x.trim()) ? `(${x.trim()})` : x.trim());

  const texToText = (tex) => {
    let s = tex
      .replace(/\\\(|\\\)|\\\[|\\\]|\$\$?/g, " ")
      .replace(/\\(?:begin|end)\{[^{}]*\}/g, " ")
      .replace(/\\\\|&/g, " ")
      .replace(/\\([a-zA-Z]+)\*?/g, (m, name) => (name in SYMBOLS ? SYMBOLS[name] : m))
      .replace(/\\([^a-zA-Z])/g, (m, c) => (c in SYMBOLS ? SYMBOLS[c] : c));
    // Innermost braces first, until nothing changes.
    for (let previous = null; previous !== s; ) {
      previous = s;
      s = s
        .replace(new RegExp(`\\\\(?:${STYLES})\\s*\\{([^{}]*)\\}`, "g"), "$1")
        .replace(new RegExp(`\\\\(${ACCENT})\\s*(?:\\{([^{}]*)\\}|([^\\s\\\\{}]))`, "gu"),
          (m, accent, braced, single) => (braced ?? single) + ACCENTS[accent])
        .replace(/\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}/g, (m, a, b) => `${group(a)}/${group(b)}`)
        .replace(/\^\s*(?:\{([^{}]*)\}|([^\s{}\\]))/gu, (m, braced, single) => script(braced ?? single, SUPERSCRIPTS, "^"))
        .replace(/_\s*(?:\{([^{}]*)\}|([^\s{}\\]))/gu, (m, braced, single) => script(braced ?? single, SUBSCRIPTS, "_"));
    }
    return s
      .replace(/\\([a-zA-Z]+)/g, "$1")
      .replace(/[{}]/g, "")
      .replace(/\uE000/g, "{")
      .replace(/\uE001/g, "}")
      .replace(/\uE002/g, "^")
      .replace(/\uE003/g, "_")
      .replace(/\s+/g, " ")
      .trim();
  };

  const htmlToText = Search.htmlToText;
  Search.htmlToText = (htmlString, anchor) => {
    const page = new DOMParser().parseFromString(htmlString, "text/html");
    // The page's text is its article: the theme's [role="main"] also holds
    // the page's header, a print-only contents list and the previous/next
    // links. The code cells and their printed output go too: their words
    // ("kl", "divergence") would make an excerpt of code.
    const main = page.querySelector('[role="main"]');
    const article = page.querySelector(".bd-article");
    if (main && article && main !== article && main.contains(article)) main.replaceChildren(article);
    page.querySelectorAll(".cell_input, .cell_output").forEach((el) => el.remove());
    for (const math of page.querySelectorAll(".math")) {
      const walker = page.createTreeWalker(math, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (/[\\^_$]/.test(node.data)) {
          node.data = node.data.replace(/^(\s*)([\s\S]*?)(\s*)$/, (m, before, tex, after) => before + texToText(tex) + after);
        }
      }
    }
    return htmlToText(page.documentElement.outerHTML, anchor);
  };
})();
