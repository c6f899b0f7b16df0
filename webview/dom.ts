// Tiny DOM helpers. No innerHTML with data: everything from the host goes in as text.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined | ((ev: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (k === 'class') el.className = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? String(c) : c);
  }
}

export function clear(el: Element): void {
  while (el.firstChild) el.firstChild.remove();
}

export function setText(el: Element, text: string): void {
  // A lone text node is changed in place: no node is replaced, so no childList mutation is queued
  // (chart.js watches the whole document for added and removed nodes, once per chart).
  const t = el.firstChild;
  if (t && t === el.lastChild && t.nodeType === 3) {
    if ((t as Text).data !== text) (t as Text).data = text;
  } else if (el.textContent !== text) el.textContent = text;
}

/** A button cell: kept across updates (so keyboard focus survives), its label and state updated. */
export interface ButtonCell {
  button: string;
  action: string;
  value: string;
  pressed?: boolean;
  title?: string;
}

export interface Row {
  key: string;
  cells: (Child | ButtonCell)[];
  class?: string;
}

function isButtonCell(c: unknown): c is ButtonCell {
  return typeof c === 'object' && c !== null && !(c instanceof Node) && 'button' in c;
}

/**
 * Updates a tbody to the given rows, reusing rows by key so a focused control inside a row keeps
 * its focus while numbers change underneath it.
 */
export function syncRows(tbody: HTMLTableSectionElement, rows: Row[], cell: (i: number) => 'th' | 'td' = (i) => (i === 0 ? 'th' : 'td')): void {
  const existing = new Map<string, HTMLTableRowElement>();
  for (const tr of Array.from(tbody.rows)) existing.set(tr.dataset.key ?? '', tr);
  const wanted = new Set(rows.map((r) => r.key));
  for (const [k, tr] of existing) if (!wanted.has(k)) tr.remove();
  let prev: HTMLTableRowElement | null = null;
  for (const r of rows) {
    let tr = existing.get(r.key);
    if (!tr || tr.cells.length !== r.cells.length) {
      const fresh = document.createElement('tr');
      fresh.dataset.key = r.key;
      r.cells.forEach((_, i) => {
        const c = document.createElement(cell(i));
        if (c.tagName === 'TH') c.setAttribute('scope', 'row');
        fresh.append(c);
      });
      if (tr) tr.replaceWith(fresh);
      tr = fresh;
    }
    if (tr.className !== (r.class ?? '')) tr.className = r.class ?? '';
    r.cells.forEach((c, i) => {
      const td = tr!.cells[i]!;
      if (isButtonCell(c)) {
        let b = td.firstElementChild as HTMLButtonElement | null;
        if (!b || b.tagName !== 'BUTTON' || td.childNodes.length !== 1) {
          clear(td);
          b = document.createElement('button');
          b.type = 'button';
          b.className = 'link';
          td.append(b);
        }
        // Written only when they differ: the table is synced on every update.
        setText(b, c.button);
        if (b.dataset.action !== c.action) b.dataset.action = c.action;
        if (b.dataset.value !== c.value) b.dataset.value = c.value;
        if (c.pressed !== undefined && b.getAttribute('aria-pressed') !== String(c.pressed)) b.setAttribute('aria-pressed', String(c.pressed));
        if (c.title && b.title !== c.title) b.title = c.title;
      } else if (c instanceof Node) {
        if (td.firstChild !== c || td.childNodes.length !== 1) {
          clear(td);
          td.append(c);
        }
      } else setText(td, c === null || c === undefined || c === false ? '' : String(c));
    });
    // Only move a row when it is out of place (moving a focused row would drop its focus).
    const expectedPrev: Element | null = prev;
    if (tr.parentElement !== tbody || tr.previousElementSibling !== expectedPrev) {
      if (prev) prev.after(tr);
      else tbody.prepend(tr);
    }
    prev = tr;
  }
}
