// The shared form: every field is an event name ("form.title", ...) and shows the latest event of that
// name. Typing inserts a new event; every window subscribed to the tenant receives it and updates.
import { BrokerClient, backoffDelay } from '/client/index.js';

const FIELDS = ['title', 'status', 'notes'];
const eventOf = (field) => `form.${field}`;
const fieldOf = (event) => event.slice('form.'.length);

const $ = (selector) => document.querySelector(selector);
const form = $('#shared-form');
const status = $('#status');

/** Debugging handle (the browser test reads it): what this window saved and received. */
const state = { acked: [], received: [], failedInserts: 0, client: undefined, subscription: undefined };
window.brokerExample = state;

function setStatus(text, live) {
  status.textContent = text;
  status.className = `status ${live ? 'live' : 'offline'}`;
}

const { brokerUrl } = await (await fetch('/config.json')).json();

$('#login').addEventListener('submit', async (e) => {
  e.preventDefault();
  const data = new FormData(e.target);
  const username = String(data.get('username'));
  const password = String(data.get('password'));
  // The hook renews the token before it expires or after a 401; a real app might ask the user again.
  const client = new BrokerClient({ url: brokerUrl, relogin: (c) => c.login(username, password) });
  try {
    await client.login(username, password);
  } catch (err) {
    $('#login-error').textContent = err.message;
    return;
  }
  $('#login').hidden = true;
  $('#app').hidden = false;
  $('#who').textContent = `Signed in as ${username}. Changes are saved as you type.`;
  start(client, username);
});

function start(client, username) {
  state.client = client;
  // Local edits not yet reflected by the stream: while a field has one, incoming events for it do not
  // overwrite what the user is typing. `awaitId` is the id of our insert; once the stream has shown
  // that id (or a later one) the field follows the stream again, so every window converges.
  const local = new Map();

  const subscription = client.subscribe({
    events: FIELDS.map(eventOf),
    onOpen: () => setStatus('live', true),
    onError: (err, info) => setStatus(info.retrying ? `reconnecting… (${err.message})` : `stopped: ${err.message}`, false),
    onReset: () => addActivity('reset: the broker sent a fresh snapshot'),
    onEvent: (event) => {
      state.received.push(event.id);
      $('#count').textContent = String(state.received.length);
      addActivity(`#${event.id} ${event.data?.by ?? '?'} set ${fieldOf(event.event)} = ${JSON.stringify(event.data?.value)}`, event.id);
    },
  });
  state.subscription = subscription;

  subscription.latest.subscribe((change) => {
    if (change.type === 'reset') {
      for (const field of FIELDS) if (!local.has(field)) render(field);
      return;
    }
    const field = fieldOf(change.name);
    const mine = local.get(field);
    if (mine && !mine.dirty && mine.awaitId !== undefined && change.id >= mine.awaitId) local.delete(field);
    if (!local.has(field)) render(field);
  });

  function render(field) {
    const entry = subscription.latest.get(eventOf(field));
    const input = form.elements.namedItem(field);
    const value = entry?.value ?? (field === 'status' ? 'draft' : '');
    if (input.value !== value) input.value = value;
    form.querySelector(`[data-by="${field}"]`).textContent = entry ? `last edited by ${entry.by}` : '';
  }

  form.addEventListener('input', (e) => {
    const field = e.target.name;
    if (!FIELDS.includes(field)) return;
    local.set(field, { value: e.target.value, dirty: true, awaitId: undefined });
    void flush();
  });

  // One sender at a time, latest value per field: a burst of keystrokes becomes few inserts, and a
  // broker that is restarting only delays them. A failed insert is retried with its field's newest
  // value; at worst a lost answer makes the same value saved twice, which changes nothing visible.
  // Retries wait like the client's reconnections (backoffDelay: doubling from 250 ms up to 4 s, jittered).
  const RETRY = { initialDelayMs: 250, maxDelayMs: 4000 };
  let sending = false;
  async function flush() {
    if (sending) return;
    sending = true;
    let attempt = 0;
    let failed = false;
    try {
      for (;;) {
        const field = FIELDS.find((f) => local.get(f)?.dirty);
        if (!field) return;
        const pending = local.get(field);
        pending.dirty = false;
        try {
          const { id } = await client.insert(eventOf(field), { value: pending.value, by: username });
          state.acked.push(id);
          attempt = 0;
          if (failed) setStatus(subscription.connected ? 'live' : 'reconnecting…', subscription.connected);
          failed = false;
          const now = local.get(field);
          if (now && !now.dirty) {
            now.awaitId = id;
            if ((subscription.latest.entry(eventOf(field))?.id ?? 0) >= id) {
              local.delete(field);
              render(field);
            }
          }
        } catch (err) {
          local.get(field).dirty = true;
          failed = true;
          state.failedInserts++;
          setStatus(`saving failed, retrying… (${err.message})`, false);
          await new Promise((r) => setTimeout(r, backoffDelay(attempt++, RETRY.initialDelayMs, RETRY)));
        }
      }
    } finally {
      sending = false;
    }
  }
}

function addActivity(text, id) {
  const item = document.createElement('li');
  item.textContent = text;
  if (id !== undefined) item.dataset.id = String(id);
  const list = $('#activity');
  list.append(item);
  list.scrollTop = list.scrollHeight;
}
