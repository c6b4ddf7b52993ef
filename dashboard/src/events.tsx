// Events: pick a tenant; its latest event of every name; a live tail (the hub's own stream, through
// the dashboard's SSE route, into a role=log region); the history with a name filter and paging; and
// a form to insert a test event.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, query, when } from './api';

interface EventRow {
  id: number;
  event: string;
  data: unknown;
  timestamp: number;
}

/** Lines the live region keeps (older ones drop off the top). */
const TAIL_MAX = 200;
const show = (data: unknown) => JSON.stringify(data);

function EventTable({ rows, label }: { rows: EventRow[]; label: string }) {
  return (
    <div class="scroll">
      <table aria-label={label}>
        <thead>
          <tr>
            <th>Id</th>
            <th>Name</th>
            <th>Data</th>
            <th>Time</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.id}>
              <td>{r.id}</td>
              <td>{r.event}</td>
              <td class="data">{show(r.data)}</td>
              <td>{when(r.timestamp)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Tail({ tenant, onEvent }: { tenant: string; onEvent: () => void }) {
  const [lines, setLines] = useState<EventRow[]>([]);
  const [state, setState] = useState('connecting');
  useEffect(() => {
    setLines([]);
    const source = new EventSource(`/_/api/events/tail${query({ tenant })}`);
    source.onopen = () => setState('live');
    source.onerror = () => setState('reconnecting');
    source.onmessage = (m) => {
      const row = JSON.parse(m.data) as EventRow;
      setLines((old) => [...old.slice(-(TAIL_MAX - 1)), row]);
      onEvent();
    };
    return () => source.close();
  }, [tenant]);
  return (
    <section class="card">
      <h2>
        Live <span class={`badge ${state}`}>{state}</span>
      </h2>
      <div role="log" aria-label="Live events" aria-live="polite" class="log">
        {lines.map((r) => (
          <p key={r.id}>
            <b>{r.event}</b> <code>{show(r.data)}</code> <small>#{r.id}</small>
          </p>
        ))}
      </div>
    </section>
  );
}

function Insert({ tenant }: { tenant: string }) {
  const [message, setMessage] = useState('');
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const name = (form.elements.namedItem('event') as HTMLInputElement).value.trim();
    const text = (form.elements.namedItem('data') as HTMLTextAreaElement).value;
    let data: unknown;
    try {
      data = JSON.parse(text || '{}');
    } catch {
      return setMessage('Data must be JSON.');
    }
    try {
      const { id } = await api<{ id: number }>('events', { body: { tenant, event: name, data } });
      setMessage(`Inserted #${id}.`);
    } catch (err) {
      setMessage((err as Error).message);
    }
  };
  return (
    <form class="card stack" onSubmit={submit} aria-label="Insert a test event">
      <h2>Insert a test event</h2>
      <label>
        Event name
        <input name="event" required value="test" />
      </label>
      <label>
        Data (JSON)
        <textarea name="data" rows={2}>
          {'{"hello":"world"}'}
        </textarea>
      </label>
      <button type="submit">Insert</button>
      {message && <p role="status">{message}</p>}
    </form>
  );
}

function History({ tenant, tick }: { tenant: string; tick: number }) {
  const [name, setName] = useState('');
  const [before, setBefore] = useState<number[]>([]);
  const [page, setPage] = useState<{ events: EventRow[]; next?: number }>({ events: [] });
  const cursor = before[before.length - 1];
  const load = () =>
    api<{ events: EventRow[]; next?: number }>(
      `events${query({ tenant, event: name, before: cursor, limit: 25 })}`,
    ).then(setPage, () => setPage({ events: [] }));
  useEffect(() => void load(), [tenant, name, cursor, tick]);
  return (
    <section class="card">
      <h2>History</h2>
      <div class="toolbar">
        <label>
          Event name filter
          <input
            value={name}
            onChange={(e) => {
              setName(e.currentTarget.value.trim());
              setBefore([]);
            }}
          />
        </label>
        <button type="button" class="secondary" onClick={load}>
          Refresh
        </button>
      </div>
      <EventTable rows={page.events} label="History" />
      <div class="pager">
        <button
          type="button"
          class="secondary"
          disabled={before.length === 0}
          onClick={() => setBefore(before.slice(0, -1))}
        >
          Newer
        </button>
        <button
          type="button"
          class="secondary"
          disabled={page.next === undefined}
          onClick={() => page.next !== undefined && setBefore([...before, page.next])}
        >
          Older
        </button>
      </div>
    </section>
  );
}

function Latest({ tenant, tick }: { tenant: string; tick: number }) {
  const [rows, setRows] = useState<EventRow[]>([]);
  const load = () => api<{ events: EventRow[] }>(`events/latest${query({ tenant })}`).then((d) => setRows(d.events));
  useEffect(() => void load().catch(() => setRows([])), [tenant, tick]);
  return (
    <section class="card">
      <h2>
        Latest of every name{' '}
        <button type="button" class="secondary small" onClick={() => void load()}>
          Refresh
        </button>
      </h2>
      <EventTable rows={rows} label="Latest of every name" />
    </section>
  );
}

export function EventsPage() {
  const initial = new URLSearchParams(location.hash.split('?')[1] ?? '').get('tenant') ?? '';
  const [tenant, setTenant] = useState(initial);
  const [tenants, setTenants] = useState<string[]>([]);
  // Bumped by each live event, at most every 500 ms: the latest and history tables reload then.
  const [tick, setTick] = useState(0);
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const onEvent = () => {
    pending.current ??= setTimeout(() => {
      pending.current = undefined;
      setTick((t) => t + 1);
    }, 500);
  };
  useEffect(() => () => clearTimeout(pending.current), []);
  const input = useRef<HTMLInputElement>(null);
  useEffect(
    () =>
      void api<{ tenants: string[] }>('tenants').then(
        (d) => setTenants(d.tenants),
        () => {},
      ),
    [],
  );
  // On submit, and on change too: Enter while the tenant list's suggestions are open picks one instead
  // of submitting the form, but the input still fires change.
  const pick = (e: Event) => {
    e.preventDefault();
    const value = input.current?.value.trim() ?? '';
    if (!value || value === tenant) return;
    setTenant(value);
    history.replaceState(null, '', `#/events${value ? `?tenant=${encodeURIComponent(value)}` : ''}`);
  };
  return (
    <section>
      <form class="toolbar" onSubmit={pick}>
        <label>
          Tenant
          <input ref={input} name="tenant" list="tenants" value={tenant} required autocomplete="off" onChange={pick} />
        </label>
        <datalist id="tenants">
          {tenants.map((t) => (
            <option key={t} value={t} />
          ))}
        </datalist>
        <button type="submit">Open</button>
      </form>
      {tenant ? (
        <div class="columns">
          <Tail tenant={tenant} onEvent={onEvent} />
          <Insert tenant={tenant} />
          <Latest tenant={tenant} tick={tick} />
          <History tenant={tenant} tick={tick} />
        </div>
      ) : (
        <p>Pick a tenant to see its events.</p>
      )}
    </section>
  );
}
