// Colours and fonts from the VS Code theme (`--vscode-*` CSS variables on <html>), re-read when the
// theme changes. Canvas drawing cannot use CSS variables directly, so they are resolved here.

export interface Theme {
  background: string;
  foreground: string;
  muted: string;
  grid: string;
  /** Background of a plot area (a faint tint of the foreground). */
  plot: string;
  border: string;
  error: string;
  warning: string;
  accent: string;
  fontFamily: string;
  fontSize: number;
  /** Series colours, from --vscode-charts-*. */
  palette: string[];
  /** Heatmap colour ramp endpoints (rgb). */
  heatLow: [number, number, number];
  heatMid: [number, number, number];
  heatHigh: [number, number, number];
}

const PALETTE_VARS: [string, string][] = [
  ['--vscode-charts-blue', '#3794ff'],
  ['--vscode-charts-orange', '#d18616'],
  ['--vscode-charts-green', '#89d185'],
  ['--vscode-charts-purple', '#b180d7'],
  ['--vscode-charts-yellow', '#cca700'],
  ['--vscode-charts-red', '#f14c4c'],
];

let probe: CanvasRenderingContext2D | null = null;

/** Any CSS colour → [r, g, b, a] (a in 0..1), via a canvas so every CSS syntax works. */
export function parseColor(css: string): [number, number, number, number] {
  probe ??= document.createElement('canvas').getContext('2d');
  if (!probe) return [128, 128, 128, 1];
  probe.fillStyle = '#000';
  probe.fillStyle = css;
  const v = String(probe.fillStyle);
  if (v.startsWith('#')) {
    const n = parseInt(v.slice(1, 7), 16);
    return [(n >> 16) & 255, (n >> 8) & 255, n & 255, 1];
  }
  const m = /rgba?\(([^)]+)\)/.exec(v);
  if (m) {
    const p = m[1]!.split(',').map((x) => parseFloat(x));
    return [p[0] ?? 0, p[1] ?? 0, p[2] ?? 0, p[3] ?? 1];
  }
  return [128, 128, 128, 1];
}

const alphaCache = new Map<string, string>();
export function withAlpha(css: string, alpha: number): string {
  const k = `${css}|${alpha}`;
  let v = alphaCache.get(k);
  if (v === undefined) {
    const [r, g, b] = parseColor(css);
    v = `rgba(${r}, ${g}, ${b}, ${alpha})`;
    if (alphaCache.size > 500) alphaCache.clear();
    alphaCache.set(k, v);
  }
  return v;
}

export function readTheme(): Theme {
  const cs = getComputedStyle(document.documentElement);
  const v = (name: string, fallback: string) => cs.getPropertyValue(name).trim() || fallback;
  const bodyCs = getComputedStyle(document.body);
  const background = bodyCs.backgroundColor && bodyCs.backgroundColor !== 'rgba(0, 0, 0, 0)' ? bodyCs.backgroundColor : v('--vscode-editor-background', '#1e1e1e');
  const foreground = v('--vscode-editor-foreground', bodyCs.color || '#cccccc');
  const bg = parseColor(background);
  const fg = parseColor(foreground);
  const dark = bg[0] * 0.299 + bg[1] * 0.587 + bg[2] * 0.114 < 128;
  const palette = PALETTE_VARS.map(([name, fb]) => v(name, fb));
  // A sequential ramp from the background through the theme's blue to its yellow reads well in
  // both dark and light themes (the light end stays distinct from a light background).
  const blue = parseColor(palette[0]!);
  const hot = parseColor(dark ? palette[4]! : palette[5]!);
  const mix = (a: number[], b: number[], t: number) => [0, 1, 2].map((i) => Math.round(a[i]! + (b[i]! - a[i]!) * t)) as [number, number, number];
  return {
    background,
    foreground,
    muted: v('--vscode-descriptionForeground', `rgba(${fg[0]}, ${fg[1]}, ${fg[2]}, 0.7)`),
    grid: `rgba(${fg[0]}, ${fg[1]}, ${fg[2]}, 0.12)`,
    plot: `rgba(${fg[0]}, ${fg[1]}, ${fg[2]}, 0.05)`,
    border: v('--vscode-panel-border', `rgba(${fg[0]}, ${fg[1]}, ${fg[2]}, 0.25)`),
    error: v('--vscode-errorForeground', '#f14c4c'),
    warning: v('--vscode-editorWarning-foreground', '#cca700'),
    accent: v('--vscode-focusBorder', palette[0]!),
    fontFamily: v('--vscode-font-family', bodyCs.fontFamily || 'sans-serif'),
    fontSize: parseFloat(v('--vscode-font-size', '13px')) || 13,
    palette,
    heatLow: mix(bg, blue, 0.25),
    heatMid: blue.slice(0, 3) as [number, number, number],
    heatHigh: hot.slice(0, 3) as [number, number, number],
  };
}

/** Calls `onChange` when VS Code switches theme (it rewrites <html style> and <body class>). */
export function watchTheme(onChange: () => void): void {
  const mo = new MutationObserver(() => onChange());
  mo.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
  mo.observe(document.body, { attributes: true, attributeFilter: ['class'] });
}
