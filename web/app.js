// Minimal console: log in, list proxies and tunnels, follow /api/v1/events.
// The token lives in sessionStorage (gone with the tab) and is only ever sent as a header.
const API = '/api/v1';
const PROXY_STATUS = {
  1: 'initializing',
  2: 'active',
  3: 'inactive',
  4: 'error',
  5: 'speed test',
  6: 'recovering',
};
const TUNNEL_STATUS = { 1: 'initializing', 2: 'active', 3: 'inactive', 4: 'error', 5: 'deploying' };
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem('seamoon-token');
let proxies = [];
let tunnels = [];
const live = { proxies: new Map(), tunnels: new Map() };

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = String(text);
  if (className) td.className = className;
  return td;
}

function statusCell(names, status, message) {
  const td = cell(names[status] ?? status, `s${status}`);
  if (message) td.title = message;
  return td;
}

async function api(path, init = {}) {
  const res = await fetch(API + path, {
    ...init,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
  const body = await res.json();
  if (res.status === 401 && path !== '/user/login') logout();
  if (!body.success) throw new Error(body.msg);
  return body;
}

function render() {
  const p = $('proxies');
  p.replaceChildren(
    ...proxies.map((x) => {
      const l = live.proxies.get(x.id);
      const tr = document.createElement('tr');
      tr.append(
        cell(x.name),
        cell(x.type),
        cell(`${x.listen_address}:${x.bound_port ?? x.listen_port}`),
        statusCell(PROXY_STATUS, x.status, x.status_message),
        cell(l ? l.conn : x.conn),
        cell(bytes(x.out_bound)),
        cell(bytes(x.in_bound)),
        cell(l ? `${bytes(l.rate_down)}/s` : '-'),
      );
      return tr;
    }),
  );
  const t = $('tunnels');
  t.replaceChildren(
    ...tunnels.map((x) => {
      const l = live.tunnels.get(x.id);
      const tr = document.createElement('tr');
      tr.append(
        cell(x.name),
        cell(x.address ? `${x.address}${x.port ? `:${x.port}` : ''}` : '-'),
        statusCell(TUNNEL_STATUS, x.status, x.status_message),
        cell(`${x.latency_ms} ms`),
        cell(l ? l.conn : 0),
        cell(bytes(l ? l.bytes_up : 0)),
        cell(bytes(l ? l.bytes_down : 0)),
      );
      return tr;
    }),
  );
}

async function refresh() {
  proxies = (await api('/proxy?size=1000')).data;
  tunnels = (await api('/tunnel?size=1000')).data;
  render();
}

/** EventSource cannot send headers, so read the SSE stream with fetch. */
async function follow() {
  const res = await fetch(`${API}/events`, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok || !res.body) return;
  $('live').textContent = 'live';
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5))
        .join('\n');
      if (data) onEvent(JSON.parse(data));
    }
  }
  $('live').textContent = 'disconnected';
}

function onEvent(event) {
  if (event.type === 'stats') {
    live.proxies = new Map(event.proxies.map((x) => [x.id, x]));
    live.tunnels = new Map(event.tunnels.map((x) => [x.id, x]));
    render();
  } else if (event.type === 'status') {
    refresh().catch(() => {});
  }
}

function logout() {
  token = null;
  sessionStorage.removeItem('seamoon-token');
  $('main').hidden = true;
  $('login').hidden = false;
}

async function enter() {
  $('login').hidden = true;
  $('main').hidden = false;
  await refresh();
  follow().catch(() => {
    $('live').textContent = 'disconnected';
  });
}

$('login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const form = new FormData(e.target);
  try {
    const body = await api('/user/login', {
      method: 'POST',
      body: JSON.stringify({ username: form.get('username'), password: form.get('password') }),
    });
    token = body.data;
    sessionStorage.setItem('seamoon-token', token);
    $('error').textContent = '';
    await enter();
  } catch (err) {
    $('error').textContent = err.message;
  }
});
$('logout').addEventListener('click', logout);
if (token) enter().catch(logout);
