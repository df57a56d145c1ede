// The endpoint owners' portal: what one link may see, with the token from the URL sent as
// a header on every call. Nothing here can reach the admin API.
import { h, clear, client, toast, alertBox, errorText, timeEl, badge, copyRow, modal, confirmDialog, empty } from './ui.js';
import { verifyGuide } from './formats.js';
import { deliveryLog } from './deliveries.js';
import { replayCard } from './endpoints-shared.js';

const token = decodeURIComponent(location.pathname.split('/')[2] || '');
const api = client('/portal/api', () => ({ 'X-Portal-Token': token }));
const main = document.getElementById('main');

async function start() {
  let sess, catalog;
  try {
    [sess, catalog] = await Promise.all([api('GET', '/session'), api('GET', '/event-types')]);
  } catch (e) {
    clear(main, h('div', { class: 'card' }, h('h1', {}, 'This link cannot be used'), alertBox(e)));
    return;
  }
  document.getElementById('expiry').textContent = 'Link valid until ' + new Date(sess.link.expires_at).toLocaleString();
  clear(main);
  if (!sess.endpoints.length) {
    main.append(h('div', { class: 'card' }, empty('No endpoints', sess.link.agent_id ? 'Agent ' + sess.link.agent_id + ' has no endpoints yet.' : 'This endpoint no longer exists.')));
    return;
  }
  let current = sess.endpoints[0];
  const picker = sess.endpoints.length > 1 ? h('select', { id: 'portal-endpoint', 'aria-label': 'Endpoint' }, sess.endpoints.map((e) => h('option', { value: e.id }, e.url))) : null;
  const view = h('div');
  main.append(h('div', { class: 'page-head' }, h('div', { class: 'grow' }, h('h1', {}, 'Your webhook endpoint' + (sess.endpoints.length > 1 ? 's' : '')),
    h('div', { class: 'muted' }, sess.link.agent_id ? 'Every endpoint of agent ' + sess.link.agent_id + '.' : 'Deliveries, tests and secrets of one endpoint.')), picker), view);
  let stop = null;
  const show = () => { if (stop) stop(); stop = endpointView(view, current, catalog.items); };
  if (picker) picker.addEventListener('change', () => { current = sess.endpoints.find((e) => e.id === picker.value); show(); });
  show();
}

function endpointView(el, ep, catalog) {
  const path = '/endpoints/' + encodeURIComponent(ep.id);
  const typeSel = h('select', { id: 'test-type', 'aria-label': 'Event type to send' }, catalog.map((c) => h('option', { value: c.type, selected: c.type === 'group_channel:message_send' }, c.type)));
  const log = deliveryLog({
    list: (q) => api('GET', path + '/deliveries?' + q),
    get: (id) => api('GET', '/deliveries/' + encodeURIComponent(id)),
    retry: (id) => api('POST', '/deliveries/' + encodeURIComponent(id) + '/retry'),
    types: catalog.map((c) => c.type),
  });
  const testCard = h('div', { class: 'card', id: 'test-card' }, h('h2', {}, 'Send a test event'),
    h('p', { class: 'muted small' }, 'Sends the example of an event type to this endpoint only, signed like every delivery. It shows in the log with a “test” badge.'),
    typeSel, h('button', { class: 'btn btn-primary btn-block', id: 'send-test', type: 'button', disabled: ep.status === 'disabled', onclick: async () => {
      try { await api('POST', path + '/test', { event_type: typeSel.value }); toast('Test event sent'); log.refresh(); } catch (e) { toast(errorText(e), 'error'); }
    } }, 'Send test event'), ep.status === 'disabled' ? h('p', { class: 'hint' }, 'The endpoint is disabled; ask the administrator to enable it.') : null);
  const secretCard = h('div', { class: 'card', id: 'secret-card' }, h('h2', {}, 'Signing secret'),
    h('p', { class: 'muted small' }, 'The secret is never shown again after it is made. Rotate to get a new one; the previous one keeps signing for 24 hours so you can switch without dropping deliveries.'),
    ep.previous_secret_expires_at ? h('p', { class: 'small' }, 'The previous secret signs too until ', timeEl(ep.previous_secret_expires_at), '.') : null,
    h('button', { class: 'btn btn-block', id: 'rotate', type: 'button', onclick: async () => {
      if (!await confirmDialog('Rotate the secret?', 'A new secret signs every delivery from now on, alongside the current one for 24 hours.', 'Rotate')) return;
      try {
        const r = await api('POST', path + '/rotate-secret', {});
        await modal('New secret', h('div', { id: 'new-secret' }, h('p', {}, 'Store it in your receiver now: it is shown only this once.'),
          h('div', { class: 'secret-box' }, copyRow('Secret', r.secret, 'Secret'))), [{ label: 'I have stored it', value: true, primary: true }]);
      } catch (e) { toast(errorText(e), 'error'); }
    } }, 'Rotate secret'));
  const replay = replayCard(async (since) => {
    try { const r = await api('POST', path + '/replay', { since }); toast(r.deliveries + ' deliveries queued'); log.refresh(); } catch (e) { toast(errorText(e), 'error'); }
  });
  const info = h('div', { class: 'card' }, h('h2', {}, 'Endpoint'), h('dl', { class: 'kv' },
    h('dt', {}, 'URL'), h('dd', { class: 'url' }, ep.url),
    h('dt', {}, 'Status'), h('dd', {}, badge(ep.status)),
    h('dt', {}, 'Format'), h('dd', {}, ep.format),
    h('dt', {}, 'Events'), h('dd', {}, ep.event_types.includes('*') ? 'All events' : ep.event_types.join(', '))));
  const cat = h('div', { class: 'card catalog', id: 'catalog' }, h('h2', {}, 'Event catalog'),
    h('p', { class: 'muted small' }, 'Every event type with the JSON Schema of its data and an example.'),
    catalog.map((c) => h('details', {}, h('summary', {}, c.type, ep.event_types.includes('*') || ep.event_types.includes(c.type) ? ' ' : null,
      ep.event_types.includes('*') || ep.event_types.includes(c.type) ? badge('subscribed', 'ok') : null),
      h('div', { class: 'body' }, h('div', {}, h('h3', {}, 'Example data'), h('pre', {}, JSON.stringify(c.example, null, 2))),
        h('div', {}, h('h3', {}, 'Schema'), h('pre', {}, JSON.stringify(c.schema, null, 2)))))));
  const guide = h('div', { class: 'card', id: 'verify-guide' }, verifyGuide(ep.format));
  clear(el, h('div', { class: 'split' }, h('div', { class: 'stack' }, log.el, cat, guide), h('div', { class: 'stack' }, info, testCard, secretCard, replay)));
  return log.stop;
}

start();
