// The HTML of the latency panel webview. Pure: the extension passes webview URIs (asWebviewUri) and
// the webview's cspSource; nothing here touches the vscode API, so tests serve the same HTML.
import { randomBytes } from 'node:crypto';

export interface PanelHtmlOptions {
  /** URI of dist/webview.js as the webview sees it (webview.asWebviewUri). */
  scriptUri: string;
  /** URI of media/panel.css as the webview sees it. */
  styleUri: string;
  /** webview.cspSource. */
  cspSource: string;
  /** A fresh nonce per render; generated when not given. */
  nonce?: string;
  title?: string;
}

/** 128 random bits, base64: a CSP nonce. */
export function makeNonce(): string {
  return randomBytes(16).toString('base64');
}

/** The panel's Content-Security-Policy: nothing but the extension's own script, styles and fonts. */
export function panelCsp(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `img-src ${cspSource} data:`,
    `style-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
    `font-src ${cspSource}`,
  ].join('; ');
}

// Every attribute is double-quoted, so single quotes (the CSP's 'none', 'nonce-…') stay readable.
const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' };
function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ESC[c]!);
}

export function panelHtml(o: PanelHtmlOptions): string {
  const nonce = o.nonce ?? makeNonce();
  if (!/^[A-Za-z0-9+/=_-]+$/.test(nonce)) throw new Error('panelHtml: a nonce is base64 characters only');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${esc(panelCsp(o.cspSource, nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${esc(o.styleUri)}">
<title>${esc(o.title ?? 'nslat latency')}</title>
</head>
<body>
<main id="app" aria-live="off"><p class="empty">Loading the nslat panel…</p></main>
<script nonce="${nonce}" src="${esc(o.scriptUri)}"></script>
</body>
</html>
`;
}
