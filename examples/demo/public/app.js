// The demo page: joins a room over Socket.IO, heartbeats, shows who is present and chats.
// The protocol is prisma-presence's Socket.IO integration plus one app event, `chat`:
//   presence:join {room, name} (ack)  presence:leave room (ack)  heartbeat
//   <- presence {room, members, anonymous}   <- presence:pruned {room}   <- chat {...}
// `?heartbeat=off` makes a page that never heartbeats, to watch it being pruned.

const NAME_KEY = 'prisma-presence-demo:name';
const params = new URLSearchParams(location.search);
const heartbeats = params.get('heartbeat') !== 'off';
const config = await (await fetch('/config.json')).json();

const $ = (id) => document.getElementById(id);
const socket = io();

let room = (params.get('room') ?? '').trim().slice(0, 32) || 'lobby';
let name = localStorage.getItem(NAME_KEY) ?? '';
let joined = null; // the room this page is present in, or null
let members = null; // the last member names shown, to tell who came and went

$('name').value = name;
$('timing').textContent = heartbeats
  ? `Heartbeat every ${seconds(config.heartbeatSeconds)}, pruned after ${seconds(config.maxAge)} of silence.`
  : `Heartbeats are off on this page: it will be pruned after ${seconds(config.maxAge)}.`;
showRoom();

// --- Presence ---------------------------------------------------------------------------

socket.on('connect', () => join());
socket.on('disconnect', () => {
  joined = null;
  setStatus('offline', 'Offline, reconnecting…');
});

socket.on('presence', (message) => {
  if (message.room === joined) showMembers(message.members, message.anonymous);
});

socket.on('presence:pruned', (message) => {
  if (message.room !== joined) return;
  joined = null;
  // A page still in use was only late (a throttled background tab): it joins again.
  if (heartbeats && document.visibilityState === 'visible') {
    note(`You were pruned from #${message.room} and joined again.`);
    join();
    return;
  }
  setStatus('pruned', 'Away');
  $('pruned-text').textContent = `No heartbeat for ${seconds(config.maxAge)}: you were removed from #${message.room}.`;
  $('pruned').hidden = false;
});

document.addEventListener('visibilitychange', () => {
  if (heartbeats && document.visibilityState === 'visible' && socket.connected && !joined) join();
});

setInterval(() => {
  if (heartbeats && socket.connected) socket.emit('heartbeat');
}, config.heartbeatSeconds * 1000);

/** Joins `room` as `name` (re-joining the same room just changes the name). */
async function join() {
  setStatus('joining', 'Joining…');
  const reply = await request('presence:join', { room, name });
  if (!reply.ok) {
    setStatus('error', 'Not joined');
    note(`Could not join #${room}: ${reply.error}.`);
    return;
  }
  joined = reply.room;
  $('pruned').hidden = true;
  setStatus('joined', `In #${joined}`);
}

async function switchRoom(target) {
  target = target.trim();
  if (!target || target === joined) return;
  if (joined) await request('presence:leave', joined);
  joined = null;
  room = target;
  members = null;
  $('log').replaceChildren();
  const url = new URL(location.href);
  url.searchParams.set('room', room);
  history.replaceState(null, '', url);
  showRoom();
  if (socket.connected) await join();
}

/** Emits with an acknowledgement; a server that does not answer counts as a failure. */
function request(event, payload) {
  return socket
    .timeout(5000)
    .emitWithAck(event, payload)
    .catch(() => ({ ok: false, error: 'no answer from the server' }));
}

// --- Chat --------------------------------------------------------------------------------

socket.on('chat', (message) => {
  if (message.room !== joined) return;
  const item = document.createElement('li');
  item.className = message.sender === socket.id ? 'message own' : 'message';
  item.dataset.testid = 'message';
  const from = element('span', 'from', message.from ?? 'anonymous');
  from.dataset.testid = 'message-from';
  from.style.color = colorOf(message.from);
  const text = element('span', 'text', message.text);
  text.dataset.testid = 'message-text';
  const time = element('time', 'time', new Date(message.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
  item.append(from, text, time);
  append(item);
});

$('send-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = $('message').value.trim();
  if (!text || !joined) return;
  socket.emit('chat', { room: joined, text });
  $('message').value = '';
});

// --- Controls ----------------------------------------------------------------------------

$('name-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const next = $('name').value.trim();
  $('name').value = next;
  if (next === name) return;
  name = next;
  localStorage.setItem(NAME_KEY, name);
  if (socket.connected) join();
});

$('room-buttons').addEventListener('click', (event) => {
  const button = event.target.closest('button[data-room]');
  if (button) switchRoom(button.dataset.room);
});

$('room-form').addEventListener('submit', (event) => {
  event.preventDefault();
  switchRoom($('room-input').value);
  $('room-input').value = '';
});

$('rejoin').addEventListener('click', () => join());

// --- Rendering ---------------------------------------------------------------------------

function showRoom() {
  $('room-title').textContent = `#${room}`;
  document.title = `#${room} · prisma-presence demo`;
  for (const button of $('room-buttons').querySelectorAll('button')) {
    button.classList.toggle('active', button.dataset.room === room);
  }
  $('members').replaceChildren();
  $('member-count').textContent = '';
  $('anonymous').hidden = true;
}

function showMembers(names, anonymous) {
  if (members) {
    for (const who of names) if (!members.includes(who)) note(`${who} joined`);
    for (const who of members) if (!names.includes(who)) note(`${who} left`);
  }
  members = names;
  $('members').replaceChildren(
    ...names.map((who) => {
      const item = document.createElement('li');
      const avatar = element('span', 'avatar', who.slice(0, 1).toUpperCase());
      avatar.style.background = colorOf(who);
      const label = element('span', 'name', who);
      label.dataset.testid = 'member-name';
      item.append(avatar, label);
      if (who === name) item.append(element('span', 'you', 'you'));
      return item;
    }),
  );
  $('member-count').textContent = String(names.length + anonymous);
  $('anonymous').dataset.count = String(anonymous);
  $('anonymous').textContent = `+ ${anonymous} anonymous`;
  $('anonymous').hidden = anonymous === 0;
}

function setStatus(state, text) {
  document.body.dataset.state = state; // the stylesheet dims a member list that is out of date
  $('status').dataset.state = state;
  $('status').textContent = text;
  $('send').disabled = state !== 'joined';
}

/** A line from the page itself (joins, leaves, errors) in the log. */
function note(text) {
  const item = element('li', 'note', text);
  item.dataset.testid = 'note';
  append(item);
}

function append(item) {
  const log = $('log');
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(item);
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = text; // never innerHTML: names and messages come from other visitors
  return node;
}

/** A stable color per name, so a person looks the same on every page. */
function colorOf(who) {
  if (!who) return 'var(--muted)';
  let hash = 0;
  for (const char of who) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  return `hsl(${hash % 360} 55% 45%)`;
}

function seconds(value) {
  return `${Number(value.toFixed(1))} s`;
}
