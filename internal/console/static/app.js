// The console: a small client-side router over deep links (/rooms/{id}, /endpoints/{id},
// /dashboard), calling the API through the console's authenticated proxy.
import { h, clear, client, toast, alertBox } from './ui.js';
import { roomsPage, roomPage } from './rooms.js';
import { endpointsPage, endpointPage } from './endpoints.js';
import { dashboardPage } from './dashboard.js';

const csrf = document.querySelector('meta[name="csrf-token"]')?.content || '';
const call = client('/console/api/v1', () => ({ 'X-CSRF-Token': csrf }));

// api wraps the proxy client; a 401 means the session ended: back to the sign-in form.
export async function api(method, path, body) {
  try {
    return await call(method, path, body);
  } catch (e) {
    if (e.status === 401) {
      location.assign(location.pathname + '?expired=1');
    }
    throw e;
  }
}

async function consoleGet(path) {
  const res = await fetch('/console/api/' + path, { credentials: 'same-origin' });
  if (res.status === 401) location.assign(location.pathname + '?expired=1');
  if (!res.ok) throw new Error(path + ' answered ' + res.status);
  return res.json();
}

// stats are the dashboard's figures; rooms lists rooms with their last activity.
export const stats = () => consoleGet('stats');
export const rooms = () => consoleGet('rooms');

const main = document.getElementById('main');
let cleanup = null;

// onLeave registers what the current page must stop (streams, timers) when it is left.
export function onLeave(fn) {
  const prev = cleanup;
  cleanup = () => { if (prev) prev(); fn(); };
}

const routes = [
  [/^\/$/, () => dashboardPage],
  [/^\/dashboard$/, () => dashboardPage],
  [/^\/rooms$/, () => roomsPage],
  [/^\/rooms\/([^/]+)$/, (m) => (el) => roomPage(el, decodeURIComponent(m[1]))],
  [/^\/endpoints$/, () => endpointsPage],
  [/^\/endpoints\/([^/]+)$/, (m) => (el) => endpointPage(el, decodeURIComponent(m[1]))],
];

async function render() {
  if (cleanup) { const c = cleanup; cleanup = null; c(); }
  const path = location.pathname;
  for (const a of document.querySelectorAll('.sidenav a[data-nav]')) {
    const on = path === '/' ? a.dataset.nav === 'dashboard' : path.startsWith('/' + a.dataset.nav);
    a.classList.toggle('active', on);
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  for (const a of document.querySelectorAll('#nav-rooms a')) {
    a.classList.toggle('active', path === a.getAttribute('href'));
  }
  let page = null;
  for (const [re, mk] of routes) {
    const m = path.match(re);
    if (m) { page = mk(m); break; }
  }
  clear(main);
  if (!page) {
    main.append(h('div', { class: 'card empty' }, h('strong', {}, 'Page not found'), h('a', { href: '/' }, 'Back to the dashboard')));
    return;
  }
  try {
    await page(main);
  } catch (e) {
    main.append(alertBox(e));
  }
}

export function navigate(path) {
  if (path !== location.pathname) history.pushState(null, '', path);
  closeNav();
  render();
  main.focus({ preventScroll: true });
}

// Same-origin links navigate in place; modified clicks open normally.
document.addEventListener('click', (e) => {
  const a = e.target.closest('a[href]');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  if (a.target === '_blank' || a.origin !== location.origin || a.hasAttribute('download')) return;
  if (a.hash && a.pathname === location.pathname) return; // in-page links (skip to content)
  if (!routes.some(([re]) => re.test(a.pathname))) return;
  e.preventDefault();
  navigate(a.pathname);
});
window.addEventListener('popstate', render);

const nav = document.getElementById('nav');
const toggle = document.getElementById('nav-toggle');
function closeNav() { nav.classList.remove('open'); toggle.setAttribute('aria-expanded', 'false'); }
toggle.addEventListener('click', () => {
  const open = nav.classList.toggle('open');
  toggle.setAttribute('aria-expanded', String(open));
});
document.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeNav(); });

// The side navigation lists rooms with a badge for activity since this browser last
// opened them (the room's last event id, remembered per room in localStorage).
export function seen(roomID, lastEventID) {
  try { localStorage.setItem('seen:' + roomID, String(lastEventID)); } catch { /* private mode */ }
}
export function unseen(room) {
  let s = null;
  try { s = localStorage.getItem('seen:' + room.id); } catch { /* private mode */ }
  if (s === null) return room.last_event_id > 0;
  return room.last_event_id > Number(s);
}

export async function refreshNavRooms() {
  const box = document.getElementById('nav-rooms');
  try {
    const res = await rooms();
    clear(box, h('div', { class: 'nav-title' }, 'Rooms'),
      res.items.length ? res.items.map((r) => h('a', { href: '/rooms/' + encodeURIComponent(r.id), class: location.pathname === '/rooms/' + encodeURIComponent(r.id) ? 'active' : '' },
        h('span', { 'aria-hidden': 'true' }, '#'), r.name || r.id, unseen(r) && location.pathname !== '/rooms/' + encodeURIComponent(r.id) ? h('span', { class: 'badge badge-new' }, 'new') : null))
        : h('div', { class: 'muted small', style: null }, 'No rooms yet'));
  } catch (e) {
    if (e.status !== 401) toast('Could not load rooms: ' + e.message, 'error');
  }
}

refreshNavRooms();
setInterval(refreshNavRooms, 15000);
render();
