// Shared helpers of the console and the portal. Every element is built with textContent;
// the only HTML ever parsed is a message's server-sanitized html (see setMessageHTML).

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'disabled' || k === 'selected' || k === 'required' || k === 'open') el[k] = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// setMessageHTML inserts a message's html field. The server renders every message to
// HTML through one allow-list sanitizer (no scripts, styles, images, event handlers or
// non-http(s) links) and the page's CSP forbids inline script besides: this is the one
// place the console parses HTML, and only that field.
export function setMessageHTML(el, html) {
  el.innerHTML = html;
  for (const a of el.querySelectorAll('a[href]')) {
    a.target = '_blank';
    a.rel = 'nofollow noopener noreferrer';
  }
}

export class APIError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

// client returns a fetch wrapper for a base path that sends extra headers and decodes the
// API's error shape.
export function client(base, headers) {
  return async function call(method, path, body) {
    const init = { method, headers: { ...headers() }, credentials: 'same-origin' };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(base + path, init);
    } catch (e) {
      throw new APIError(0, 'network', 'The server cannot be reached. Check that chathooks is running.');
    }
    if (res.status === 204) return null;
    let data = null;
    const text = await res.text();
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!res.ok) {
      const err = data && data.error ? data.error : { code: 'http_' + res.status, message: text || res.statusText };
      throw new APIError(res.status, err.code, err.message);
    }
    return data;
  };
}

export function toast(msg, kind) {
  const box = document.getElementById('toasts');
  if (!box) return;
  const t = h('div', { class: 'toast' + (kind === 'error' ? ' error' : '') }, msg);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 7000 : 3500);
}

export function errorText(e) {
  return e instanceof APIError ? e.message : String(e && e.message ? e.message : e);
}

export function alertBox(e) {
  return h('p', { class: 'alert alert-error', role: 'alert' }, errorText(e));
}

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
export function ago(iso) {
  if (!iso) return '';
  const s = (new Date(iso).getTime() - Date.now()) / 1000;
  const abs = Math.abs(s);
  if (abs < 45) return s <= 0 ? 'just now' : 'in a few seconds';
  if (abs < 3600) return rtf.format(Math.round(s / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(s / 3600), 'hour');
  return rtf.format(Math.round(s / 86400), 'day');
}

export function timeEl(iso) {
  return h('time', { datetime: iso, title: new Date(iso).toLocaleString() }, ago(iso));
}

export function clock(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function badge(text, kind) {
  return h('span', { class: 'badge badge-' + (kind || text) }, text);
}

export function initials(name) {
  const parts = String(name || '?').trim().split(/\s+/);
  return ((parts[0] || '?')[0] + (parts.length > 1 ? parts[parts.length - 1][0] : '')).toUpperCase();
}

export function avatar(name, url, small) {
  const box = h('span', { class: 'avatar' + (small ? ' avatar-sm' : ''), 'aria-hidden': 'true' }, initials(name));
  if (url && /^https?:\/\//i.test(url)) {
    const img = h('img', { src: url, alt: '', loading: 'lazy', referrerpolicy: 'no-referrer' });
    img.addEventListener('error', () => img.remove());
    img.addEventListener('load', () => { box.textContent = ''; box.append(img); });
  }
  return box;
}

export async function copy(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    toast((what || 'Text') + ' copied');
  } catch {
    toast('Copy failed: select the text and copy it by hand', 'error');
  }
}

export function copyRow(label, value, what) {
  const id = 'c' + Math.random().toString(36).slice(2);
  const input = h('input', { id, value, readonly: true, spellcheck: 'false', onfocus: (e) => e.target.select() });
  return h('div', {},
    h('label', { for: id }, label),
    h('div', { class: 'copy-row' }, input,
      h('button', { class: 'btn btn-sm', type: 'button', onclick: () => copy(value, what || label) }, 'Copy')));
}

export function empty(title, text, ...actions) {
  return h('div', { class: 'empty' }, h('strong', {}, title), h('div', {}, text), actions.length ? h('div', { class: 'actions', style: null }, ...actions) : null);
}

// modal opens a native dialog with content and resolves when it closes.
export function modal(title, content, buttons) {
  return new Promise((resolve) => {
    const dlg = h('dialog', { 'aria-label': title });
    const close = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    dlg.append(h('h2', {}, title), content,
      h('div', { class: 'dialog-actions' }, ...(buttons || [{ label: 'Close', value: null, primary: true }]).map((b) =>
        h('button', { type: 'button', class: 'btn' + (b.primary ? ' btn-primary' : '') + (b.danger ? ' btn-danger' : ''), onclick: () => close(b.value) }, b.label))));
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); close(null); });
    document.body.append(dlg);
    dlg.showModal();
  });
}

export function confirmDialog(title, text, label, danger) {
  return modal(title, h('p', {}, text), [
    { label: 'Cancel', value: false },
    { label, value: true, primary: !danger, danger },
  ]);
}

// sse reads a Server-Sent Events stream with fetch (so it can send Last-Event-ID on the
// first connection too) and reconnects with the last id seen until stopped.
export function sse(url, lastID, onEvent, onState) {
  let stopped = false;
  let ctrl = null;
  let last = lastID;
  let delay = 1000;
  async function run() {
    while (!stopped) {
      ctrl = new AbortController();
      try {
        const headers = {};
        if (last !== null && last !== undefined) headers['Last-Event-ID'] = String(last);
        const res = await fetch(url, { headers, signal: ctrl.signal, credentials: 'same-origin' });
        if (!res.ok) throw new Error('stream answered ' + res.status);
        onState(true);
        delay = 1000;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let id = null, type = 'message', data = '';
            for (const line of block.split('\n')) {
              if (line.startsWith('id: ')) id = line.slice(4);
              else if (line.startsWith('event: ')) type = line.slice(7);
              else if (line.startsWith('data: ')) data += line.slice(6);
            }
            if (!data) continue;
            if (id !== null) last = id;
            try { onEvent(type, JSON.parse(data)); } catch (e) { console.warn('bad event', e); }
          }
        }
      } catch (e) {
        if (stopped) return;
      }
      onState(false);
      if (stopped) return;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 15000);
    }
  }
  run();
  return () => { stopped = true; if (ctrl) ctrl.abort(); onState(false); };
}

// lineChart draws series of numbers as an SVG line chart.
export function lineChart(series, opts) {
  const W = 600, H = 160, L = 40, R = 8, T = 10, B = 20;
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', opts.label);
  const n = Math.max(2, ...series.map((s) => s.values.length));
  let max = Math.max(opts.min || 1, ...series.flatMap((s) => s.values.filter((v) => Number.isFinite(v))));
  max = niceMax(max);
  const x = (i) => L + (i * (W - L - R)) / (n - 1);
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const el = (tag, attrs) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    svg.append(e);
    return e;
  };
  for (const f of [0, 0.5, 1]) {
    el('line', { x1: L, x2: W - R, y1: y(max * f), y2: y(max * f), class: 'axis', 'stroke-dasharray': f ? '3 4' : '' });
    el('text', { x: L - 6, y: y(max * f) + 3, 'text-anchor': 'end' }).textContent = fmt(max * f) + (opts.unit || '');
  }
  el('text', { x: L, y: H - 4 }).textContent = opts.span || '';
  el('text', { x: W - R, y: H - 4, 'text-anchor': 'end' }).textContent = 'now';
  for (const s of series) {
    const off = n - s.values.length;
    const pts = s.values.map((v, i) => `${x(i + off).toFixed(1)},${y(Number.isFinite(v) ? v : 0).toFixed(1)}`);
    if (pts.length < 2) continue;
    if (s.fill) el('path', { d: `M${x(off)},${y(0)} L${pts.join(' L')} L${x(n - 1)},${y(0)} Z`, fill: s.color, 'fill-opacity': '0.12', stroke: 'none' });
    el('polyline', { points: pts.join(' '), fill: 'none', stroke: s.color, 'stroke-width': 2, 'stroke-linejoin': 'round', 'vector-effect': 'non-scaling-stroke' });
  }
  return svg;
}

function niceMax(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

export function fmt(v) {
  if (!Number.isFinite(v)) return '–';
  if (Number.isInteger(v) && v < 1000) return String(v);
  if (v >= 1000) return (v / 1000).toFixed(v >= 10000 ? 0 : 1) + 'k';
  if (v >= 10 || v === 0) return String(Math.round(v));
  return v.toFixed(v >= 1 ? 1 : 2);
}

export function duration(s) {
  if (!s) return '0s';
  if (s < 60) return Math.round(s) + 's';
  if (s < 3600) return Math.round(s / 60) + 'm';
  return (s / 3600).toFixed(1) + 'h';
}
