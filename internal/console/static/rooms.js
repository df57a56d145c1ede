// Rooms: the list, and a room's page with its live messages, members and incoming webhooks.
import { h, clear, setMessageHTML, toast, alertBox, errorText, timeEl, clock, badge, avatar, copy, copyRow, empty, confirmDialog, sse } from './ui.js';
import { api, rooms as listRooms, onLeave, seen, unseen, refreshNavRooms, navigate } from './shell.js';

// HISTORY is how many of a room's latest events the page replays from the stream to show
// its recent messages; older ones load on demand.
const HISTORY = 500;

export async function roomsPage(el) {
  const [rooms, users] = await Promise.all([listRooms(), api('GET', '/users?limit=200')]);
  const list = h('div', { class: 'room-list' });
  const fill = (items) => {
    if (!items.length) {
      clear(list, h('div', { class: 'card' }, empty('No rooms yet', 'Create a room, add a webhook to it and post from any script that speaks Slack, Chime, Google Chat or Mattermost.')));
      return;
    }
    items.sort((a, b) => new Date(b.last_activity_at || b.created_at) - new Date(a.last_activity_at || a.created_at));
    clear(list, items.map((r) => h('a', { class: 'card room-card', href: '/rooms/' + encodeURIComponent(r.id) },
      h('div', { class: 'title' }, h('span', { class: 'muted' }, '#'), r.name || r.id, unseen(r) ? badge('new', 'new') : null),
      h('div', { class: 'muted small' }, r.member_count + (r.member_count === 1 ? ' member' : ' members'), ' · ',
        r.last_activity_at ? ['last activity ', timeEl(r.last_activity_at)] : 'no activity yet'),
      h('div', { class: 'muted small mono' }, r.id))));
  };
  fill(rooms.items);
  el.append(
    h('div', { class: 'page-head' }, h('div', { class: 'grow' }, h('h1', {}, 'Rooms'), h('div', { class: 'muted' }, 'Group channels, their messages and incoming webhooks.'))),
    h('div', { class: 'split' }, list, h('div', { class: 'stack' }, newRoomCard(users.items), peopleCard(users.items))));
}

function newRoomCard(users) {
  const err = h('div');
  const name = h('input', { id: 'room-name', name: 'name', required: true, placeholder: 'Ops alerts', maxlength: 256 });
  const rid = h('input', { id: 'room-id', name: 'id', placeholder: 'optional, e.g. ops', maxlength: 128 });
  const boxes = users.map((u) => h('label', { class: 'inline' }, h('input', { type: 'checkbox', value: u.id, name: 'member' }), u.name || u.id));
  const form = h('form', { class: 'card', id: 'new-room' },
    h('h2', {}, 'New room'), err,
    h('label', { for: 'room-name' }, 'Name'), name,
    h('label', { for: 'room-id' }, 'Id'), rid,
    h('label', {}, 'Members'),
    boxes.length ? h('div', {}, boxes) : h('div', { class: 'hint' }, 'Add people below to make them members.'),
    h('button', { class: 'btn btn-primary btn-block', type: 'submit' }, 'Create room'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = { name: name.value.trim(), member_ids: [...form.querySelectorAll('input[name=member]:checked')].map((c) => c.value) };
    if (rid.value.trim()) body.id = rid.value.trim();
    try {
      const r = await api('POST', '/rooms', body);
      toast('Room created');
      refreshNavRooms();
      navigate('/rooms/' + encodeURIComponent(r.id));
    } catch (ex) { clear(err, alertBox(ex)); }
  });
  return form;
}

function peopleCard(users) {
  const err = h('div');
  const list = h('ul', {}, users.map((u) => h('li', {}, h('span', { class: 'presence' + (u.present ? ' on' : ''), title: u.present ? 'present' : 'away' }),
    avatar(u.name, null, true), u.name || u.id, h('span', { class: 'muted small mono' }, u.id), u.kind === 'agent' ? badge('agent', 'info') : null)));
  const uid = h('input', { id: 'user-id', placeholder: 'alice', required: true, maxlength: 128 });
  const uname = h('input', { id: 'user-name', placeholder: 'Alice', required: true, maxlength: 256 });
  const kind = h('select', { id: 'user-kind' }, h('option', { value: 'human' }, 'Human'), h('option', { value: 'agent' }, 'Agent (bot)'));
  const form = h('form', { class: 'card members', id: 'new-user' }, h('h2', {}, 'People'),
    users.length ? list : h('p', { class: 'muted' }, 'Nobody yet. People post messages and join rooms; agents can have their own endpoints.'),
    err, h('div', { class: 'form-grid' },
      h('div', {}, h('label', { for: 'user-id' }, 'Id'), uid),
      h('div', {}, h('label', { for: 'user-name' }, 'Name'), uname),
      h('div', {}, h('label', { for: 'user-kind' }, 'Kind'), kind)),
    h('button', { class: 'btn btn-block', type: 'submit' }, 'Add person'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      await api('POST', '/users', { id: uid.value.trim(), name: uname.value.trim(), kind: kind.value });
      toast('Added ' + uname.value.trim());
      navigate('/rooms');
    } catch (ex) { clear(err, alertBox(ex)); }
  });
  return form;
}

export async function roomPage(el, id) {
  const room = await api('GET', '/rooms/' + encodeURIComponent(id));
  seen(room.id, room.last_event_id);
  refreshNavRooms();
  const title = h('h1', {}, room.name || room.id);
  const sub = h('div', { class: 'muted small' }, h('span', { class: 'mono' }, room.id), ' · ', room.member_count + ' members');
  const tabMsgs = h('button', { role: 'tab', 'aria-selected': 'true', id: 'tab-messages' }, 'Messages');
  const tabHooks = h('button', { role: 'tab', 'aria-selected': 'false', id: 'tab-webhooks' }, 'Incoming webhooks');
  const body = h('div');
  el.append(h('div', { class: 'page-head' }, h('div', { class: 'grow' }, h('a', { href: '/rooms', class: 'small crumb' }, '← Rooms'), title, sub)), h('div', { class: 'tabs', role: 'tablist' }, tabMsgs, tabHooks), body);

  const msgView = messagesView(room, (r) => { title.textContent = r.name || r.id; sub.lastChild.textContent = r.member_count + ' members'; });
  const hookView = h('div');
  let hooksLoaded = false;
  const show = (which) => {
    tabMsgs.setAttribute('aria-selected', String(which === 'm'));
    tabHooks.setAttribute('aria-selected', String(which === 'w'));
    clear(body, which === 'm' ? msgView : hookView);
    if (which === 'w' && !hooksLoaded) { hooksLoaded = true; webhooksView(hookView, room); }
  };
  tabMsgs.addEventListener('click', () => show('m'));
  tabHooks.addEventListener('click', () => show('w'));
  for (const t of [tabMsgs, tabHooks]) {
    t.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') { const o = t === tabMsgs ? tabHooks : tabMsgs; o.focus(); o.click(); }
    });
  }
  show('m');
}

function messagesView(room, onRoom) {
  const list = h('div', { class: 'messages', id: 'messages', role: 'log', 'aria-live': 'polite', 'aria-label': 'Messages', tabindex: '0' });
  const els = new Map(); // message id -> its element
  const memberList = h('ul');
  const membersCard = h('div', { class: 'card members', id: 'members' }, h('h2', {}, 'Members'), memberList);
  const sender = h('select', { id: 'post-as', 'aria-label': 'Post as' });
  const text = h('textarea', { id: 'post-text', rows: 1, placeholder: 'Write a message… (Markdown)', title: 'Enter sends; Shift+Enter starts a new line', 'aria-label': 'Message' });
  const send = h('button', { class: 'btn btn-primary', type: 'submit' }, 'Send');
  const replying = h('div', { class: 'replying', hidden: true });
  let threadID = '';
  const composer = h('form', { class: 'composer', id: 'composer' }, replying, sender, text, send);
  const chat = h('div', { class: 'card chat' }, list, composer);
  const placeholder = h('div', { class: 'empty', id: 'no-messages' }, h('strong', {}, 'No messages yet'),
    'Post below, or create an incoming webhook and send from a script — messages appear here live.');
  list.append(placeholder);
  const older = h('button', { class: 'btn btn-sm load-earlier', type: 'button', hidden: true }, 'Load earlier messages');
  list.prepend(older);

  const nearBottom = () => list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const setReply = (m) => {
    threadID = m ? m.thread_id || m.id : '';
    replying.hidden = !m;
    if (m) {
      clear(replying, 'Replying in the thread of ', h('strong', {}, m.sender.name || m.sender.id),
        h('button', { class: 'btn btn-sm btn-ghost', type: 'button', onclick: () => setReply(null) }, 'Cancel'));
      text.focus();
    }
  };

  const msgEl = (m, inThread) => {
    const tag = { webhook: ' (Webhook)', system: ' (System)' }[m.sender.type];
    const bodyEl = h('div', { class: 'msg-body' });
    setMessageHTML(bodyEl, m.html);
    const node = h('article', { class: 'msg', id: 'm-' + m.id, dataset: { id: m.id } },
      avatar(m.sender.name || m.sender.id, m.sender.avatar_url, inThread),
      h('div', {},
        h('div', { class: 'msg-head' },
          h('span', { class: 'name' }, m.sender.name || m.sender.id, tag ? h('span', { class: 'webhook-tag' }, tag) : null),
          h('time', { datetime: m.created_at, title: new Date(m.created_at).toLocaleString() }, clock(m.created_at)),
          m.updated_at ? h('span', { class: 'muted small' }, '(edited)') : null),
        bodyEl,
        h('div', { class: 'msg-actions' }, h('button', { type: 'button', onclick: () => setReply(m) }, inThread ? 'Reply in thread' : 'Reply'))));
    return node;
  };

  const add = (m, fresh, prepend) => {
    if (els.has(m.id)) return;
    placeholder.remove();
    const stick = nearBottom();
    const root = m.thread_id && m.thread_id !== m.id ? els.get(m.thread_id) : null;
    const node = msgEl(m, !!root);
    if (fresh) node.classList.add('fresh');
    if (root) {
      let th = root.nextElementSibling;
      if (!th || !th.classList.contains('thread')) {
        th = h('div', { class: 'thread', 'aria-label': 'Thread' });
        root.after(th);
      }
      th.append(node);
    } else if (prepend) {
      older.after(node);
    } else {
      list.append(node);
    }
    els.set(m.id, node);
    if (stick || !fresh) list.scrollTop = list.scrollHeight;
  };

  const update = (m) => {
    const old = els.get(m.id);
    if (!old) return add(m, true);
    const inThread = !!old.closest('.thread');
    const node = msgEl(m, inThread);
    old.replaceWith(node);
    els.set(m.id, node);
  };
  const remove = (id) => {
    const node = els.get(id);
    if (!node) return;
    const th = node.nextElementSibling;
    if (th && th.classList.contains('thread')) th.remove();
    node.remove();
    els.delete(id);
  };

  let oldest = null;
  const history = [];
  let replaying = true;
  const stop = sse('/console/api/v1/rooms/' + encodeURIComponent(room.id) + '/stream', Math.max(0, room.last_event_id - HISTORY), (type, ev) => {
    const p = ev.payload || {};
    switch (type) {
      case 'group_channel:message_send':
        if (!oldest) oldest = p.message.id;
        add(p.message, ev.room_seq > room.last_event_id);
        break;
      case 'group_channel:message_update': update(p.message); break;
      case 'group_channel:message_delete': remove(p.message_id); break;
      case 'group_channel:join': case 'group_channel:leave': case 'group_channel:invite': case 'group_channel:changed':
        if (p.room) onRoom(p.room);
        loadMembers();
        break;
      case 'group_channel:remove':
        toast('This room was deleted');
        break;
    }
    if (ev.room_seq > room.last_event_id) { room.last_event_id = ev.room_seq; seen(room.id, ev.room_seq); }
    if (replaying && ev.room_seq >= room.last_event_id) {
      replaying = false;
      older.hidden = !oldest || room.last_event_id <= HISTORY;
    }
  }, (on) => document.getElementById('live-dot')?.classList.toggle('on', on));
  onLeave(stop);
  older.hidden = room.last_event_id <= HISTORY;
  older.addEventListener('click', async () => {
    try {
      const q = oldest ? '&before=' + encodeURIComponent(oldest) : '';
      const res = await api('GET', '/rooms/' + encodeURIComponent(room.id) + '/messages?limit=100' + q);
      const top = list.scrollHeight - list.scrollTop;
      for (const m of res.items.slice().reverse()) add(m, false, true);
      if (res.items.length) oldest = res.items[0].id;
      list.scrollTop = list.scrollHeight - top;
      if (res.items.length < 100) older.hidden = true;
    } catch (e) { toast(errorText(e), 'error'); }
  });

  async function loadMembers() {
    try {
      const res = await api('GET', '/rooms/' + encodeURIComponent(room.id) + '/members?limit=200');
      const prev = sender.value;
      clear(memberList, res.items.length ? res.items.map((m) => h('li', {},
        h('span', { class: 'presence' + (m.present ? ' on' : ''), role: 'img', 'aria-label': m.present ? 'present' : 'away', title: m.present ? 'present' : 'away' }),
        avatar(m.name, null, true), h('span', {}, m.name || m.id), m.kind === 'agent' ? badge('agent', 'info') : null))
        : h('li', { class: 'muted' }, 'No members. Webhooks can still post here.'));
      clear(sender, res.items.length ? res.items.map((m) => h('option', { value: m.id, selected: m.id === prev }, 'as ' + (m.name || m.id)))
        : h('option', { value: '' }, 'Nobody to post as'));
      sender.disabled = text.disabled = send.disabled = !res.items.length;
    } catch (e) { clear(memberList, alertBox(e)); }
  }
  loadMembers();
  const timer = setInterval(loadMembers, 20000);
  onLeave(() => clearInterval(timer));

  // post sends what the box holds and empties it at once, so the next message can be
  // written while this one is on its way; on failure the text comes back to an empty box.
  const post = async () => {
    const t = text.value;
    if (!t.trim() || !sender.value) return;
    const body = { sender_id: sender.value, text: t };
    if (threadID) body.thread_id = threadID;
    text.value = '';
    setReply(null);
    text.focus();
    try {
      await api('POST', '/rooms/' + encodeURIComponent(room.id) + '/messages', body);
    } catch (e) {
      toast(errorText(e), 'error');
      if (!text.value) text.value = t;
    }
  };
  composer.addEventListener('submit', (e) => { e.preventDefault(); post(); });
  text.addEventListener('keydown', (e) => { if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); post(); } });

  return h('div', { class: 'room-layout' }, chat, membersCard);
}

const dialects = [
  ['chime', 'Amazon Chime', (u) => `curl -X POST '${u}' -H 'Content-Type: application/json' -d '{"Content":"Hello from Chime :wave:"}'`],
  ['google_chat', 'Google Chat', (u) => `curl -X POST '${u}' -H 'Content-Type: application/json' -d '{"text":"Hello from *Google Chat*"}'`],
  ['slack', 'Slack', (u) => `curl -X POST '${u}' -H 'Content-Type: application/json' -d '{"text":"Hello from *Slack* <!here>"}'`],
  ['mattermost', 'Mattermost', (u) => `curl -X POST '${u}' -H 'Content-Type: application/json' -d '{"text":"Hello from **Mattermost**"}'`],
];

// urlsPanel shows a webhook's dialect URLs, which exist only right after create or
// regenerate (the token is stored hashed).
function urlsPanel(w) {
  return h('div', { class: 'card', id: 'webhook-urls' },
    h('h2', {}, 'URLs of “' + w.name + '”'),
    h('p', { class: 'alert alert-warn' }, 'Copy these now: the token is stored only hashed, so they cannot be shown again. Regenerate to get new ones.'),
    dialects.map(([key, label, curl]) => h('div', { class: 'dialect', dataset: { dialect: key } },
      copyRow(label + ' URL', w.urls[key], label + ' URL'),
      h('div', { class: 'copy-row' }, h('code', { class: 'small muted url' }, curl(w.urls[key])),
        h('button', { class: 'btn btn-sm', type: 'button', onclick: () => copy(curl(w.urls[key]), 'curl command') }, 'Copy curl')))));
}

async function webhooksView(el, room) {
  const err = h('div');
  const panel = h('div');
  const list = h('div', { class: 'card' });
  const name = h('input', { id: 'hook-name', required: true, placeholder: 'Alertmanager', maxlength: 256 });
  const av = h('input', { id: 'hook-avatar', type: 'url', placeholder: 'https://example.com/avatar.png', maxlength: 1024 });
  const form = h('form', { class: 'card', id: 'new-webhook' }, h('h2', {}, 'New incoming webhook'), err,
    h('div', { class: 'form-grid' }, h('div', {}, h('label', { for: 'hook-name' }, 'Name'), name, h('div', { class: 'hint' }, 'Messages show as “name (Webhook)”.')),
      h('div', {}, h('label', { for: 'hook-avatar' }, 'Avatar URL'), av)),
    h('button', { class: 'btn btn-primary btn-block', type: 'submit' }, 'Create webhook'));
  const load = async () => {
    try {
      const res = await api('GET', '/rooms/' + encodeURIComponent(room.id) + '/webhooks');
      if (!res.items.length) {
        clear(list, empty('No incoming webhooks', 'Create one to post into this room from Slack, Chime, Google Chat or Mattermost scripts.'));
        return;
      }
      clear(list, h('h2', {}, 'Incoming webhooks'), h('div', { class: 'table-wrap' }, h('table', { id: 'webhooks' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', { class: 'hide-sm' }, 'Id'), h('th', { class: 'hide-sm' }, 'Created'), h('th', {}, ''))),
        h('tbody', {}, res.items.map((w) => h('tr', { dataset: { id: w.id } },
          h('td', {}, h('span', { class: 'actions' }, avatar(w.name, w.avatar_url, true), w.name + ' (Webhook)')),
          h('td', { class: 'mono small hide-sm' }, w.id),
          h('td', { class: 'hide-sm' }, timeEl(w.created_at)),
          h('td', {}, h('div', { class: 'actions' },
            h('button', { class: 'btn btn-sm regenerate', type: 'button', onclick: () => regenerate(w) }, 'Regenerate URLs'),
            h('button', { class: 'btn btn-sm btn-danger delete', type: 'button', onclick: () => del(w) }, 'Delete')))))))));
    } catch (e) { clear(list, alertBox(e)); }
  };
  const regenerate = async (w) => {
    if (!await confirmDialog('Regenerate “' + w.name + '”?', 'Every script using the current URLs will get 404 until it uses the new ones.', 'Regenerate')) return;
    try {
      const nw = await api('POST', '/webhooks/' + encodeURIComponent(w.id) + '/regenerate');
      clear(panel, urlsPanel(nw));
      toast('New URLs issued; the old ones stopped working');
      panel.scrollIntoView({ block: 'nearest' });
    } catch (e) { toast(errorText(e), 'error'); }
  };
  const del = async (w) => {
    if (!await confirmDialog('Delete “' + w.name + '”?', 'Its URLs will answer 404. Messages it posted stay.', 'Delete webhook', true)) return;
    try {
      await api('DELETE', '/webhooks/' + encodeURIComponent(w.id));
      clear(panel);
      toast('Webhook deleted');
      load();
    } catch (e) { toast(errorText(e), 'error'); }
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear(err);
    try {
      const body = { name: name.value.trim() };
      if (av.value.trim()) body.avatar_url = av.value.trim();
      const w = await api('POST', '/rooms/' + encodeURIComponent(room.id) + '/webhooks', body);
      clear(panel, urlsPanel(w));
      form.reset();
      load();
    } catch (ex) { clear(err, alertBox(ex)); }
  });
  el.append(h('div', { class: 'split' }, h('div', { class: 'stack' }, panel, list), form));
  load();
}
