// The console's shell: what every page shares (the API client, leaving a page, navigating,
// the side navigation's rooms). The router (app.js) registers how to show a path; pages
// import this module, never the router, so that modules import one way only.
import { h, clear, client, toast } from './ui.js';

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

let cleanup = null;

// onLeave registers what the current page must stop (streams, timers) when it is left.
export function onLeave(fn) {
  const prev = cleanup;
  cleanup = () => { if (prev) prev(); fn(); };
}

// leave runs what the page being left registered.
export function leave() {
  if (cleanup) { const c = cleanup; cleanup = null; c(); }
}

let show = () => {};

// setRouter registers how a navigation shows the current path (the router does).
export function setRouter(fn) { show = fn; }

export function navigate(path) {
  if (path !== location.pathname) history.pushState(null, '', path);
  show();
}

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
