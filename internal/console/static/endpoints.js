// Endpoints: the list with the create form, and an endpoint's page with its actions and
// delivery log.
import { h, clear, toast, alertBox, errorText, timeEl, badge, copyRow, empty, confirmDialog, modal } from './ui.js';
import { api, onLeave, navigate } from './shell.js';
import { verifyGuide } from './formats.js';
import { deliveryLog } from './deliveries.js';
import { retryText, replayCard } from './endpoints-shared.js';

export async function endpointsPage(el) {
  const [eps, types, users] = await Promise.all([api('GET', '/endpoints?limit=200'), api('GET', '/event-types'), api('GET', '/users?limit=200')]);
  const list = h('div', { class: 'card' });
  if (!eps.items.length) {
    list.append(empty('No endpoints yet', 'An endpoint receives every chat event you choose, signed, with retries. Create one on the right.'));
  } else {
    list.append(h('div', { class: 'table-wrap' }, h('table', { id: 'endpoints' },
      h('thead', {}, h('tr', {}, h('th', {}, 'URL'), h('th', {}, 'Format'), h('th', {}, 'Status'), h('th', { class: 'hide-sm' }, 'Scope'), h('th', { class: 'hide-sm' }, 'Events'))),
      h('tbody', {}, eps.items.map((e) => {
        const row = h('tr', { class: 'clickable', dataset: { id: e.id } },
          h('td', {}, h('a', { href: '/endpoints/' + encodeURIComponent(e.id), class: 'url' }, e.url), e.description ? h('div', { class: 'muted small' }, e.description) : null),
          h('td', {}, e.format), h('td', {}, badge(e.status)),
          h('td', { class: 'hide-sm' }, e.agent_id ? 'agent ' + e.agent_id : 'workspace'),
          h('td', { class: 'hide-sm small' }, e.event_types.includes('*') ? 'all events' : e.event_types.length + ' types'));
        row.addEventListener('click', (ev) => { if (!ev.target.closest('a')) navigate('/endpoints/' + encodeURIComponent(e.id)); });
        return row;
      })))));
  }
  el.append(
    h('div', { class: 'page-head' }, h('div', { class: 'grow' }, h('h1', {}, 'Endpoints'), h('div', { class: 'muted' }, 'Where chat events are delivered: signed, retried, each endpoint on its own lane.'))),
    h('div', { class: 'split' }, h('div', { class: 'stack' }, list, await alertsCard()), createForm(types.items, users.items.filter((u) => u.kind === 'agent'))));
}

// alertsCard chooses the room failure alerts are posted into (the workspace settings).
async function alertsCard() {
  const [settings, rooms] = await Promise.all([api('GET', '/settings'), api('GET', '/rooms?limit=200')]);
  const room = h('select', { id: 'alerts-room' }, h('option', { value: '' }, 'No alerts room'),
    rooms.items.map((r) => h('option', { value: r.id, selected: r.id === settings.alerts_room_id }, r.name || r.id)));
  const save = h('button', { class: 'btn', type: 'submit', id: 'alerts-save' }, 'Save');
  const form = h('form', { class: 'card', id: 'alerts' }, h('h2', {}, 'Failure alerts'),
    h('p', { class: 'muted small' }, 'When an endpoint starts failing, recovers, is disabled or a delivery dies, chathooks posts one message into this room.'),
    h('label', { for: 'alerts-room' }, 'Alerts room'), h('div', { class: 'actions' }, room, save));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api('PATCH', '/settings', { alerts_room_id: room.value });
      toast(room.value ? 'Alerts go to ' + room.selectedOptions[0].textContent : 'Alerts room cleared');
    } catch (ex) { toast(errorText(ex), 'error'); }
  });
  return form;
}

function createForm(types, agents) {
  const err = h('div');
  const url = h('input', { id: 'ep-url', type: 'url', required: true, placeholder: 'https://hooks.example.com/chat' });
  const desc = h('input', { id: 'ep-desc', placeholder: 'What receives these events', maxlength: 1024 });
  const format = h('select', { id: 'ep-format' }, h('option', { value: 'standard' }, 'Standard Webhooks'), h('option', { value: 'sendbird' }, 'Sendbird'), h('option', { value: 'rbm' }, 'Google RBM (Pub/Sub)'));
  const agent = h('select', { id: 'ep-agent' }, h('option', { value: '' }, 'Workspace (every room)'), agents.map((a) => h('option', { value: a.id }, 'Agent: ' + (a.name || a.id))));
  const all = h('input', { type: 'checkbox', id: 'ep-all', checked: true });
  const typeBoxes = types.map((t) => h('label', { class: 'inline small' }, h('input', { type: 'checkbox', name: 'type', value: t.type, disabled: true }), t.type));
  all.addEventListener('change', () => { for (const b of typeBoxes) b.firstChild.disabled = all.checked; });
  const headers = h('textarea', { id: 'ep-headers', rows: 2, placeholder: 'X-Team: chat\nAuthorization: Bearer …', spellcheck: 'false' });
  const num = (id, ph, max) => h('input', { id, type: 'number', min: 0, max, placeholder: ph });
  const maxAttempts = num('ep-attempts', 'format default', 100), maxInterval = num('ep-interval', 'format default'), ttl = num('ep-ttl', 'format default');
  const timeout = num('ep-timeout', '5000', 60000), inflight = num('ep-inflight', '16', 1024), rate = num('ep-rate', 'unlimited');
  const ordering = h('select', { id: 'ep-ordering' }, h('option', { value: 'concurrent' }, 'Concurrent (up to max in flight)'), h('option', { value: 'fifo' }, 'FIFO: one at a time, in order'));
  const form = h('form', { class: 'card', id: 'new-endpoint' }, h('h2', {}, 'New endpoint'), err,
    h('label', { for: 'ep-url' }, 'URL'), url,
    h('label', { for: 'ep-desc' }, 'Description'), desc,
    h('div', { class: 'form-grid' }, h('div', {}, h('label', { for: 'ep-format' }, 'Format'), format), h('div', {}, h('label', { for: 'ep-agent' }, 'Scope'), agent)),
    h('fieldset', {}, h('legend', {}, 'Events'), h('label', { class: 'inline' }, all, 'All chat events, including future types'), h('div', {}, typeBoxes)),
    h('label', { for: 'ep-headers' }, 'Extra headers'), headers, h('div', { class: 'hint' }, 'One “Name: value” per line.'),
    h('fieldset', {}, h('legend', {}, 'Retry policy'), h('div', { class: 'form-grid' },
      h('div', {}, h('label', { for: 'ep-attempts' }, 'Max attempts'), maxAttempts),
      h('div', {}, h('label', { for: 'ep-interval' }, 'Max interval (s)'), maxInterval),
      h('div', {}, h('label', { for: 'ep-ttl' }, 'Give up after (s)'), ttl))),
    h('fieldset', {}, h('legend', {}, 'Limits'), h('div', { class: 'form-grid' },
      h('div', {}, h('label', { for: 'ep-timeout' }, 'Timeout (ms)'), timeout),
      h('div', {}, h('label', { for: 'ep-inflight' }, 'Max in flight'), inflight),
      h('div', {}, h('label', { for: 'ep-rate' }, 'Requests/s'), rate)),
      h('label', { for: 'ep-ordering' }, 'Order'), ordering,
      h('div', { class: 'hint' }, 'FIFO retries a failing delivery before sending anything after it.')),
    h('button', { class: 'btn btn-primary btn-block', type: 'submit' }, 'Create endpoint'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(err);
    const body = { url: url.value.trim(), description: desc.value.trim(), format: format.value,
      event_types: all.checked ? ['*'] : typeBoxes.map((b) => b.firstChild).filter((c) => c.checked).map((c) => c.value) };
    if (agent.value) body.agent_id = agent.value;
    const hs = {};
    for (const line of headers.value.split('\n')) {
      const i = line.indexOf(':');
      if (line.trim() && i > 0) hs[line.slice(0, i).trim()] = line.slice(i + 1).trim();
      else if (line.trim()) { clear(err, alertBox('Header line “' + line + '” has no colon')); return; }
    }
    if (Object.keys(hs).length) body.headers = hs;
    const retry = {};
    if (maxAttempts.value) retry.max_attempts = Number(maxAttempts.value);
    if (maxInterval.value) retry.max_interval_s = Number(maxInterval.value);
    if (ttl.value) retry.ttl_s = Number(ttl.value);
    if (Object.keys(retry).length) body.retry = retry;
    if (timeout.value) body.timeout_ms = Number(timeout.value);
    if (inflight.value) body.max_in_flight = Number(inflight.value);
    if (rate.value) body.rate_limit_per_second = Number(rate.value);
    if (ordering.value !== 'concurrent') body.ordering = ordering.value;
    try {
      const ep = await api('POST', '/endpoints', body);
      await showSecret('Endpoint created', ep.secret, 'This is the signing secret. It is shown only now; keep it in your receiver.');
      navigate('/endpoints/' + encodeURIComponent(ep.id));
    } catch (ex) { clear(err, alertBox(ex)); }
  });
  return form;
}

// showSecret shows a secret once, right after it was made.
function showSecret(title, secret, text) {
  return modal(title, h('div', { id: 'new-secret' }, h('p', {}, text),
    h('div', { class: 'secret-box' }, copyRow('Secret', secret, 'Secret'))), [{ label: 'I have stored it', value: true, primary: true }]);
}

export async function endpointPage(el, id) {
  const path = '/endpoints/' + encodeURIComponent(id);
  let ep = await api('GET', path);
  const head = h('div', { class: 'page-head' });
  const info = h('div', { class: 'card' });
  const portalBox = h('div');
  let refreshLinks = () => {};
  const drawHead = () => {
    clear(head,
      h('div', { class: 'grow' }, h('a', { href: '/endpoints', class: 'small crumb' }, '← Endpoints'), h('h1', { class: 'url' }, ep.url), h('div', { class: 'actions muted small' }, badge(ep.status), h('span', {}, ep.format), h('span', { class: 'mono' }, ep.id))),
      h('div', { class: 'actions' },
        ep.format === 'rbm' ? h('button', { class: 'btn', id: 'verify', onclick: verify }, 'Verify') : null,
        h('button', { class: 'btn', id: 'send-test', onclick: test, disabled: ep.status === 'disabled' }, 'Send test event'),
        h('button', { class: 'btn', id: 'rotate', onclick: rotate }, 'Rotate secret'),
        h('button', { class: 'btn', id: 'portal-link', onclick: portal }, 'Owner portal link'),
        ep.status === 'disabled'
          ? h('button', { class: 'btn btn-primary', id: 'enable', onclick: () => setStatus('active') }, 'Enable')
          : h('button', { class: 'btn btn-danger', id: 'disable', onclick: () => setStatus('disabled') }, 'Disable')));
    clear(info, h('h2', {}, 'Settings'), h('dl', { class: 'kv' },
      h('dt', {}, 'Description'), h('dd', {}, ep.description || '—'),
      h('dt', {}, 'Scope'), h('dd', {}, ep.agent_id ? 'Agent ' + ep.agent_id + ' (its rooms only)' : 'Workspace'),
      h('dt', {}, 'Events'), h('dd', {}, ep.event_types.includes('*') ? 'All events' : ep.event_types.join(', ')),
      h('dt', {}, 'Headers'), h('dd', { class: 'mono small' }, Object.keys(ep.headers || {}).length ? Object.entries(ep.headers).map(([k, v]) => h('div', {}, k + ': ' + v)) : '—'),
      h('dt', {}, 'Retry'), h('dd', {}, retryText(ep.retry)),
      h('dt', {}, 'Limits'), h('dd', {}, ep.timeout_ms + ' ms timeout · ' + ep.max_in_flight + ' in flight' + (ep.rate_limit_per_second ? ' · ' + ep.rate_limit_per_second + '/s' : '')),
      h('dt', {}, 'Order'), h('dd', { id: 'ep-order' }, ep.ordering === 'fifo' ? 'FIFO: one at a time, in commit order' : 'Concurrent'),
      h('dt', {}, 'Secret'), h('dd', {}, 'Hidden. Rotate to get a new one', ep.previous_secret_expires_at ? ' (the previous one signs too until ' + new Date(ep.previous_secret_expires_at).toLocaleString() + ')' : '', '.'),
      h('dt', {}, 'Created'), h('dd', {}, timeEl(ep.created_at))),
    h('details', { class: 'small' }, h('summary', {}, 'How receivers verify signatures'), verifyGuide(ep.format)));
  };
  const act = async (fn, ok) => {
    try { const r = await fn(); if (ok) toast(ok); return r; } catch (e) { toast(errorText(e), 'error'); return null; }
  };
  async function verify() {
    const v = await act(() => api('POST', path + '/verify'), 'Endpoint verified');
    if (v) { ep = v; drawHead(); }
  }
  async function test() {
    const d = await act(() => api('POST', path + '/test', {}), 'Test event queued');
    if (d) log.refresh();
  }
  async function rotate() {
    if (!await confirmDialog('Rotate the secret?', 'A new secret signs from now on; the current one keeps signing alongside for 24 hours so receivers can switch.', 'Rotate')) return;
    const v = await act(() => api('POST', path + '/rotate-secret', {}));
    if (!v) return;
    await showSecret('New secret', v.secret, 'Deliveries are signed with this secret from now on (and with the previous one until ' + new Date(v.previous_secret_expires_at).toLocaleString() + '). It is shown only now.');
    ep = v; drawHead();
  }
  async function setStatus(status) {
    if (status === 'disabled' && !await confirmDialog('Disable this endpoint?', 'It stops receiving events until enabled again; events meanwhile are not queued for it.', 'Disable', true)) return;
    const v = await act(() => api('PATCH', path, { status }), status === 'disabled' ? 'Endpoint disabled' : 'Endpoint enabled');
    if (v) { ep = v; drawHead(); }
  }
  async function portal() {
    const agentOpt = ep.agent_id ? h('label', { class: 'inline' }, h('input', { type: 'checkbox', id: 'portal-agent' }), 'Every endpoint of agent ' + ep.agent_id) : null;
    const days = h('select', { id: 'portal-ttl' }, [[3600, '1 hour'], [86400, '1 day'], [604800, '7 days'], [2592000, '30 days']].map(([s, l]) => h('option', { value: s, selected: s === 86400 }, l)));
    const go = await modal('Owner portal link', h('div', {},
      h('p', {}, 'A signed link that shows this endpoint to its owner — event catalog, delivery log, test events, retries, replay and secret rotation — without the admin token. Nothing else is reachable from it.'),
      h('label', { for: 'portal-ttl' }, 'Valid for'), days, agentOpt), [{ label: 'Cancel', value: false }, { label: 'Create link', value: true, primary: true }]);
    if (!go) return;
    const l = await act(() => api('POST', path + '/portal-links', { expires_in_s: Number(days.value), agent: !!(agentOpt && agentOpt.firstChild.checked) }));
    if (l) {
      refreshLinks();
      clear(portalBox, h('div', { class: 'card', id: 'portal-link-box' }, h('h2', {}, 'Owner portal link'),
        copyRow('Link (expires ' + new Date(l.expires_at).toLocaleString() + ')', l.url, 'Portal link'),
        h('div', { class: 'actions' }, h('button', { class: 'btn btn-sm btn-danger', type: 'button', onclick: async () => {
          await act(() => api('DELETE', '/portal-links/' + encodeURIComponent(l.id)), 'Link revoked');
          clear(portalBox);
          refreshLinks();
        } }, 'Revoke link'))));
    }
  }
  drawHead();
  const replay = replayCard((since) => act(() => api('POST', path + '/replay', { since }), null).then((r) => {
    if (r) { toast(r.deliveries + ' deliveries queued'); log.refresh(); }
  }));
  const log = deliveryLog({
    list: (q) => api('GET', path + '/deliveries?' + q),
    get: (did) => api('GET', '/deliveries/' + encodeURIComponent(did)),
    retry: (did) => api('POST', '/deliveries/' + encodeURIComponent(did) + '/retry'),
    types: (await api('GET', '/event-types')).items.map((t) => t.type),
    open: new URLSearchParams(location.search).get('delivery'),
  });
  onLeave(log.stop);
  const links = h('div', { class: 'card', id: 'portal-links' });
  const loadLinks = async () => {
    try {
      const res = await api('GET', '/portal-links');
      const now = Date.now();
      const mine = res.items.filter((l) => (l.endpoint_id === ep.id || (l.agent_id && l.agent_id === ep.agent_id)) && !l.revoked_at && new Date(l.expires_at) > now);
      clear(links, h('h2', {}, 'Owner portal links'), mine.length
        ? h('ul', { class: 'plain' }, mine.map((l) => h('li', { class: 'actions' },
          h('span', { class: 'grow small' }, l.agent_id ? 'Every endpoint of ' + l.agent_id : 'This endpoint', ' · expires ', timeEl(l.expires_at)),
          h('button', { class: 'btn btn-sm btn-danger', type: 'button', onclick: async () => {
            if (!await confirmDialog('Revoke this link?', 'Whoever holds it loses access at once.', 'Revoke', true)) return;
            await act(() => api('DELETE', '/portal-links/' + encodeURIComponent(l.id)), 'Link revoked');
            loadLinks();
          } }, 'Revoke'))))
        : h('p', { class: 'muted small' }, 'No active links. “Owner portal link” makes one for whoever runs this receiver.'));
    } catch (e) { clear(links, alertBox(e)); }
  };
  loadLinks();
  refreshLinks = loadLinks;
  el.append(head, portalBox, h('div', { class: 'split' }, log.el, h('div', { class: 'stack' }, info, replay, links)));
}

