// The live dashboard: samples the server's counters every two seconds and draws rates.
import { h, clear, lineChart, fmt, duration, badge, empty, alertBox } from './ui.js';
import { stats, onLeave } from './shell.js';

const PERIOD_MS = 2000;
const KEEP = 90; // samples: three minutes

const okOutcomes = ['succeeded', 'ok', 'success'];

function totals(s) {
  let ok = 0, failed = 0, dead = 0, all = 0;
  for (const [k, v] of Object.entries(s.attempts)) {
    all += v;
    if (okOutcomes.includes(k)) ok += v;
    else if (k === 'dead') dead += v;
    else failed += v;
  }
  return { ok, failed, dead, all };
}

export async function dashboardPage(el) {
  const cards = h('div', { class: 'stats' });
  const charts = h('div', { class: 'charts' });
  const health = h('div', { class: 'card', id: 'endpoint-health' });
  el.append(h('div', { class: 'page-head' }, h('div', { class: 'grow' }, h('h1', {}, 'Dashboard'),
    h('div', { class: 'muted' }, 'Live from this server’s own counters, sampled every 2 s.'))), cards, charts, health);
  const samples = [];
  const series = { posts: [], ok: [], failed: [], dead: [], latency: [], lag: [] };
  const tick = async () => {
    let s;
    try { s = await stats(); } catch (e) { clear(health, alertBox(e)); return; }
    const t = totals(s);
    const prev = samples[samples.length - 1];
    samples.push({ s, t });
    if (samples.length > KEEP) samples.shift();
    const lag = Math.max(0, ...s.endpoints.map((e) => e.oldest_s));
    if (prev) {
      const dt = (new Date(s.at) - new Date(prev.s.at)) / 1000 || 1;
      const push = (k, v) => { series[k].push(Math.max(0, v)); if (series[k].length > KEEP) series[k].shift(); };
      push('posts', (s.posts - prev.s.posts) / dt);
      push('ok', (t.ok - prev.t.ok) / dt);
      push('failed', (t.failed - prev.t.failed) / dt);
      push('dead', (t.dead - prev.t.dead) / dt);
      const dn = s.attempt_latency_count - prev.s.attempt_latency_count;
      push('latency', dn > 0 ? 1000 * (s.attempt_latency_sum_s - prev.s.attempt_latency_sum_s) / dn : 0);
      push('lag', lag);
    }
    const last = (k) => series[k].length ? series[k][series[k].length - 1] : 0;
    const dead = s.endpoints.reduce((n, e) => n + e.dead, 0);
    const capped = s.endpoints.some((e) => e.capped);
    clear(cards,
      stat('Posts/s', fmt(last('posts')), fmt(s.posts) + ' since start', 'stat-posts'),
      stat('Deliveries/s', fmt(last('ok')), fmt(t.ok) + ' delivered since start', 'stat-deliveries'),
      stat('Failed attempts/s', fmt(last('failed')), fmt(t.failed) + ' since start', 'stat-failed', last('failed') > 0),
      stat('Dead deliveries', (capped ? '≥' : '') + fmt(dead), 'waiting for a manual retry', 'stat-dead', dead > 0),
      stat('Delivery lag', duration(lag), 'oldest undelivered event', 'stat-lag', lag > 60),
      stat('Attempt latency', fmt(last('latency')) + ' ms', 'average over the last 2 s', 'stat-latency'));
    const span = Math.round((series.posts.length * PERIOD_MS) / 1000) + ' s ago';
    clear(charts,
      chart('Throughput', [{ name: 'posts/s', color: '#4f46e5', values: series.posts, fill: true }, { name: 'deliveries/s', color: '#12805c', values: series.ok }], '/s', span),
      chart('Failures', [{ name: 'failed attempts/s', color: '#d97706', values: series.failed, fill: true }, { name: 'dead/s', color: '#c0322b', values: series.dead }], '/s', span),
      chart('Delivery lag', [{ name: 'oldest undelivered (s)', color: '#1d5fd1', values: series.lag, fill: true }], 's', span),
      chart('Attempt latency', [{ name: 'average (ms)', color: '#7c3aed', values: series.latency, fill: true }], 'ms', span));
    drawHealth(health, s.endpoints, prev ? slotsBusy(s, prev.s) : {});
  };
  await tick();
  const timer = setInterval(() => { if (!document.hidden) tick(); }, PERIOD_MS);
  onLeave(() => clearInterval(timer));
}

function stat(label, value, sub, id, bad) {
  return h('div', { class: 'card stat', id }, h('div', { class: 'label' }, label), h('div', { class: 'value' + (bad ? ' bad' : '') }, value), h('div', { class: 'muted small' }, sub));
}

function chart(title, series, unit, span) {
  return h('div', { class: 'card chart' }, h('h2', {}, title), lineChart(series, { label: title, unit, span }),
    h('div', { class: 'legend' }, series.map((s) => h('span', {}, swatch(s.color), s.name))));
}

// swatch colours a legend mark through the CSSOM (the CSP forbids inline style attributes).
function swatch(color) {
  const i = h('i');
  i.style.background = color;
  return i;
}

// slotsBusy is, by endpoint id, the share of the last sample's interval that this server's
// attempts held the endpoint's in-flight slots (a slot counts from its taking to the
// attempt's end).
function slotsBusy(s, prev) {
  const dt = (new Date(s.at) - new Date(prev.at)) / 1000;
  const out = {};
  if (!(dt > 0)) return out;
  for (const e of s.endpoints) {
    const d = (s.slot_seconds[e.id] || 0) - (prev.slot_seconds[e.id] || 0);
    if (e.max_in_flight > 0 && d >= 0) out[e.id] = Math.min(1, d / dt / e.max_in_flight);
  }
  return out;
}

function drawHealth(el, eps, busy) {
  if (!eps.length) {
    clear(el, h('h2', {}, 'Endpoint health'), empty('No endpoints', 'Create an endpoint to see its backlog here.', h('a', { class: 'btn', href: '/endpoints' }, 'Endpoints')));
    return;
  }
  clear(el, h('h2', {}, 'Endpoint health'), h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, h('th', {}, 'Endpoint'), h('th', {}, 'Health'), h('th', {}, 'Pending'), h('th', {}, 'Retrying'), h('th', {}, 'Dead'), h('th', {}, 'Lag'),
      h('th', { title: 'How much of the last 2 s this server’s attempts held the endpoint’s max_in_flight slots. Near 100 % while deliveries wait: max_in_flight is what holds them.' }, 'Slots busy'))),
    h('tbody', {}, eps.map((e) => {
      const state = e.status === 'disabled' ? ['disabled', 'disabled'] : e.dead > 0 ? ['failing', 'bad'] : e.failed > 0 ? ['retrying', 'failed'] : ['healthy', 'ok'];
      const cap = e.capped ? '+' : '';
      return h('tr', {}, h('td', {}, h('a', { href: '/endpoints/' + encodeURIComponent(e.id), class: 'url' }, e.url)),
        h('td', {}, badge(state[0], state[1])), h('td', {}, e.pending + cap), h('td', {}, e.failed + cap), h('td', {}, e.dead + cap), h('td', {}, duration(e.oldest_s)),
        h('td', { class: 'slots-busy' + (busy[e.id] >= 0.9 && e.pending > 0 ? ' bad' : '') }, e.id in busy ? Math.round(100 * busy[e.id]) + ' %' : '–'));
    })))));
}
