// The delivery log shared by the console and the portal: filters by status and event type,
// expands a delivery into its attempts, retries one; it polls while the page is visible.
import { h, clear, toast, alertBox, errorText, timeEl, badge, empty } from './ui.js';

const POLL_MS = 3000;

// open, if given, is a delivery id to show expanded (a link from an alert), also when it
// is not among the newest.
export function deliveryLog({ list, get, retry, types, open: openID }) {
  const status = h('select', { id: 'filter-status', 'aria-label': 'Status' }, h('option', { value: '' }, 'Any status'),
    ['pending', 'succeeded', 'failed', 'dead'].map((s) => h('option', { value: s }, s)));
  const type = h('select', { id: 'filter-type', 'aria-label': 'Event type' }, h('option', { value: '' }, 'Any event type'),
    types.map((t) => h('option', { value: t }, t)));
  const body = h('div');
  const more = h('button', { class: 'btn btn-sm', type: 'button', hidden: true }, 'Older deliveries');
  const el = h('div', { class: 'card', id: 'deliveries' }, h('h2', {}, 'Delivery log'), h('div', { class: 'filters' }, status, type), body, more);
  let open = openID || null; // the expanded delivery id
  let pinned = null; // the linked delivery, shown even when it is not on the first page
  let cursor = '';
  let extra = []; // deliveries loaded with "older"
  const shown = new Map(); // delivery id -> its last drawn detail, kept while it reloads

  const row = (d) => {
    const tr = h('tr', { class: 'clickable' + (open === d.id ? ' selected' : ''), tabindex: '0', dataset: { id: d.id, status: d.status }, 'aria-expanded': String(open === d.id) },
      h('td', {}, timeEl(d.created_at)),
      h('td', { class: 'mono small' }, d.event_type, d.event_id.startsWith('evt_test_') ? h('span', {}, ' ', badge('test', 'info')) : null),
      h('td', {}, badge(d.status)),
      h('td', { class: 'hide-sm' }, String(d.attempt_count)),
      h('td', { class: 'hide-sm small' }, d.next_attempt_at && (d.status === 'failed' || d.status === 'pending') ? timeEl(d.next_attempt_at) : '—'));
    const toggle = () => { open = open === d.id ? null : d.id; refresh(); };
    tr.addEventListener('click', toggle);
    tr.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); toggle(); } });
    return tr;
  };

  const detail = async (id, cell) => {
    try {
      const d = await get(id);
      if (pinned && pinned.id === d.id) pinned = d;
      const node = h('div', { class: 'delivery-detail' },
        h('div', { class: 'actions' }, h('span', { class: 'mono small' }, d.id), h('span', { class: 'muted small' }, 'event ' + d.event_id),
          h('button', { class: 'btn btn-sm btn-primary retry', type: 'button', onclick: async (e) => {
            e.stopPropagation();
            try { await retry(d.id); toast('Retry queued'); refresh(); } catch (ex) { toast(errorText(ex), 'error'); }
          } }, 'Retry now')),
        d.attempts.length ? d.attempts.slice().reverse().map((a, i) => h('div', { class: 'attempt' },
          h('div', { class: 'attempt-head' }, h('strong', {}, 'Attempt ' + (d.attempts.length - i)),
            a.status_code ? badge(String(a.status_code), a.status_code < 300 ? 'ok' : 'bad') : badge('no response', 'bad'),
            h('span', { class: 'muted small' }, a.latency_ms + ' ms · '), timeEl(a.at)),
          a.error ? h('div', { class: 'alert alert-error small' }, a.error) : null,
          a.response_excerpt ? h('pre', { class: 'small' }, a.response_excerpt) : null))
          : h('p', { class: 'muted' }, 'Not attempted yet.'));
      shown.clear();
      shown.set(id, node);
      clear(cell, node);
    } catch (e) { clear(cell, alertBox(e)); }
  };

  let busy = false;
  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const q = new URLSearchParams({ limit: '50' });
      if (status.value) q.set('status', status.value);
      if (type.value) q.set('event_type', type.value);
      const res = await list(q.toString());
      const items = res.items.concat(extra.filter((x) => !res.items.some((y) => y.id === x.id)));
      if (pinned && !items.some((x) => x.id === pinned.id)) items.unshift(pinned);
      if (!extra.length) cursor = res.next_cursor || '';
      more.hidden = !cursor;
      if (!items.length) {
        clear(body, empty(status.value || type.value ? 'No deliveries match' : 'No deliveries yet',
          status.value || type.value ? 'Try another filter.' : 'Deliveries appear here as events happen. Send a test event to try the endpoint.'));
        return;
      }
      const rows = [];
      for (const d of items) {
        rows.push(row(d));
        if (open === d.id) {
          const cell = h('td', { colspan: 5 }, shown.get(d.id) || h('span', { class: 'muted' }, 'Loading attempts…'));
          rows.push(h('tr', { class: 'detail-row' }, cell));
          detail(d.id, cell);
        }
      }
      const focused = document.activeElement?.closest?.('tr')?.dataset?.id;
      clear(body, h('div', { class: 'table-wrap' }, h('table', { id: 'delivery-table' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Created'), h('th', {}, 'Event type'), h('th', {}, 'Status'), h('th', { class: 'hide-sm' }, 'Attempts'), h('th', { class: 'hide-sm' }, 'Next attempt'))),
        h('tbody', {}, rows))));
      if (focused) body.querySelector(`tr[data-id="${CSS.escape(focused)}"]`)?.focus();
    } catch (e) {
      clear(body, alertBox(e));
    } finally { busy = false; }
  }
  more.addEventListener('click', async () => {
    const q = new URLSearchParams({ limit: '50', cursor });
    if (status.value) q.set('status', status.value);
    if (type.value) q.set('event_type', type.value);
    try {
      const res = await list(q.toString());
      extra = extra.concat(res.items);
      cursor = res.next_cursor || '';
      refresh();
    } catch (e) { toast(errorText(e), 'error'); }
  });
  const reset = () => { extra = []; cursor = ''; open = null; refresh(); };
  const unpin = () => { pinned = null; reset(); };
  status.addEventListener('change', unpin);
  type.addEventListener('change', unpin);
  if (openID) {
    get(openID).then((d) => { pinned = d; refresh(); el.scrollIntoView(); }).catch((e) => toast(errorText(e), 'error'));
  }
  refresh();
  const timer = setInterval(() => { if (!document.hidden) refresh(); }, POLL_MS);
  return { el, refresh, stop: () => clearInterval(timer) };
}
