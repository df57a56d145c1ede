// Pieces of the endpoint page shared by the console and the portal.
import { h } from './ui.js';

export function retryText(r) {
  const parts = [];
  if (r && r.max_attempts) parts.push('up to ' + r.max_attempts + ' attempts');
  if (r && r.max_interval_s) parts.push('at most ' + r.max_interval_s + ' s apart');
  if (r && r.ttl_s) parts.push('for ' + r.ttl_s + ' s');
  return parts.length ? parts.join(', ') : "The format's default schedule";
}

export function replayCard(onReplay) {
  const since = h('input', { id: 'replay-since', type: 'datetime-local', required: true });
  const d = new Date(Date.now() - 3600e3);
  since.value = new Date(d.getTime() - d.getTimezoneOffset() * 60e3).toISOString().slice(0, 16);
  const form = h('form', { class: 'card', id: 'replay' }, h('h2', {}, 'Replay'),
    h('p', { class: 'muted small' }, 'Send again every matching event since a time: fresh deliveries, same event ids (receivers can de-duplicate).'),
    h('label', { for: 'replay-since' }, 'Since (your local time)'), since,
    h('button', { class: 'btn btn-block', type: 'submit' }, 'Replay events'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!since.value) return;
    onReplay(new Date(since.value).toISOString());
  });
  return form;
}
