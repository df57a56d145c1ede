// The console: a small client-side router over deep links (/rooms/{id}, /endpoints/{id},
// /dashboard), calling the API through the console's authenticated proxy (shell.js).
import { h, clear, alertBox } from './ui.js';
import { leave, setRouter, navigate, refreshNavRooms } from './shell.js';
import { roomsPage, roomPage } from './rooms.js';
import { endpointsPage, endpointPage } from './endpoints.js';
import { dashboardPage } from './dashboard.js';

const main = document.getElementById('main');

const routes = [
  [/^\/$/, () => dashboardPage],
  [/^\/dashboard$/, () => dashboardPage],
  [/^\/rooms$/, () => roomsPage],
  [/^\/rooms\/([^/]+)$/, (m) => (el) => roomPage(el, decodeURIComponent(m[1]))],
  [/^\/endpoints$/, () => endpointsPage],
  [/^\/endpoints\/([^/]+)$/, (m) => (el) => endpointPage(el, decodeURIComponent(m[1]))],
];

async function render() {
  leave();
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

// A navigation closes the small-screen menu, shows the page and moves focus to it.
setRouter(() => {
  closeNav();
  render();
  main.focus({ preventScroll: true });
});

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

refreshNavRooms();
setInterval(refreshNavRooms, 15000);
render();
