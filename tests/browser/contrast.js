// The lowest WCAG text contrast of the panel's text, as Chromium computes the colours: text colour
// against the first opaque background up the tree (translucent layers composited).
// With { groups: { name: selector } }: per group, the lowest ratio of the visible elements with text
// ({ name: { count, min } }). With { root: selector }: the lowest ratio of any visible text directly
// inside an element under root, enabled controls only ({ count, ratio, text }).
(arg) => {
  const parse = (c) => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const background = (el) => {
    const layers = [];
    for (let node = el; node; node = node.parentElement) {
      const c = parse(getComputedStyle(node).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let out = [255, 255, 255];
    for (const [r, g, b, a] of layers.reverse())
      out = [r * a + out[0] * (1 - a), g * a + out[1] * (1 - a), b * a + out[2] * (1 - a)];
    return out;
  };
  const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const contrast = (el) => {
    const c = parse(getComputedStyle(el).color); const bg = background(el); const a = c[3];
    return ratio([c[0] * a + bg[0] * (1 - a), c[1] * a + bg[1] * (1 - a), c[2] * a + bg[2] * (1 - a)], bg);
  };
  if (arg.root) {
    const root = document.querySelector(arg.root);
    const els = [...root.querySelectorAll('*')].filter((el) => el.offsetParent !== null && !el.closest(':disabled')
      && [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim()));
    let worst = { ratio: 99, text: '' };
    for (const el of els) {
      const r = contrast(el);
      if (r < worst.ratio) worst = { ratio: r, text: el.textContent.trim().slice(0, 60) };
    }
    return { count: els.length, ...worst };
  }
  const out = {};
  for (const [name, selector] of Object.entries(arg.groups)) {
    const els = [...document.querySelectorAll(selector)].filter((el) => el.offsetParent !== null && el.textContent.trim());
    out[name] = { count: els.length, min: Math.min(...els.map(contrast)) };
  }
  return out;
}
