/**
 * Plain-text tables for the CLI's reports: columns laid out to a terminal width, long cells
 * shortened, optional ANSI colour.
 */
const ESC = '\u001b[';
export function paint(on: boolean, code: string, s: string): string {
  return on ? `${ESC}${code}m${s}${ESC}0m` : s;
}

export function cut(s: string, n: number): string {
  if (n <= 1) return s.slice(0, Math.max(0, n));
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

/** Lays out rows as columns: first column left-aligned (and shortened to fit `width`), the others
 *  right-aligned except those listed in `left`. A row of one cell plus `span[i]` (a skipped
 *  boundary and its reason) prints that text after its first cell, across the other columns. */
export function layout(header: string[], rows: string[][], width: number, left: number[] = [0], span: Array<string | undefined> = []): string[] {
  const ncol = header.length;
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r, j) => (i > 0 && span[j] !== undefined ? 0 : (r[i] ?? '').length))));
  const total = w.reduce((a, b) => a + b, 0) + 2 * (ncol - 1) + 2;
  if (total > width) {
    // shorten the last (free-text) column first, then the name column
    let over = total - width;
    const shrink = (i: number, min: number): void => {
      const can = Math.max(0, w[i]! - min);
      const d = Math.min(can, over);
      w[i]! -= d;
      over -= d;
    };
    const freeText = left.includes(ncol - 1) && ncol > 1;
    // names matter more than the free text (skip reasons are also in the JSON document)
    if (freeText) shrink(ncol - 1, 10);
    shrink(0, 16);
    shrink(0, 10);
  }
  const fmt = (r: string[]): string =>
    '  ' +
    r
      .map((c, i) => {
        const s = cut(c, w[i]!);
        return left.includes(i) ? (i === ncol - 1 ? s : s.padEnd(w[i]!)) : s.padStart(w[i]!);
      })
      .join('  ');
  // Spanning text wraps at spaces onto at most three lines under itself.
  const spanned = (r: string[], text: string): string => {
    const name = cut(r[0] ?? '', w[0]!).padEnd(w[0]!);
    const avail = Math.max(10, width - w[0]! - 4);
    const lines: string[] = [];
    let cur = '';
    for (const word of text.split(' ')) {
      if (cur && cur.length + 1 + word.length > avail) {
        lines.push(cur);
        cur = word;
      } else cur = cur ? `${cur} ${word}` : word;
    }
    if (cur) lines.push(cur);
    const shown = lines.length > 3 ? [...lines.slice(0, 2), cut(lines.slice(2).join(' '), avail)] : lines;
    return shown.map((l, i) => `  ${i === 0 ? name : ' '.repeat(w[0]!)}  ${cut(l, avail)}`).join('\n');
  };
  return [fmt(header), ...rows.map((r, j) => (span[j] !== undefined ? spanned(r, span[j]!) : fmt(r)))];
}
