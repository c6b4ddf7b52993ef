// Streams, Apps, Topics and Server: listings that refresh by themselves, and their few actions.
import { useEffect, useState } from 'preact/hooks';
import { api, bytes, query, when } from './api';

/** Polls a listing every `ms` while the page is shown. */
function usePoll<T>(path: string, ms: number): [T | undefined, () => void, string] {
  const [data, setData] = useState<T>();
  const [error, setError] = useState('');
  const load = () =>
    void api<T>(path).then(
      (d) => {
        setData(d);
        setError('');
      },
      (err) => setError((err as Error).message),
    );
  useEffect(() => {
    load();
    const timer = setInterval(load, ms);
    return () => clearInterval(timer);
  }, [path]);
  return [data, load, error];
}

interface StreamRow {
  id: number;
  tenant: string | null;
  topic: string | null;
  user: string;
  transport: string;
  since: number;
  queued: number;
}

export function StreamsPage() {
  const [data, reload, error] = usePoll<{ total: number; streams: StreamRow[] }>('streams', 2000);
  const close = (id: number) => void api('streams/close', { body: { id } }).finally(reload);
  return (
    <section>
      {error && <p class="error">{error}</p>}
      <p>{data ? `${data.total} open stream${data.total === 1 ? '' : 's'}` : 'Loading…'}</p>
      <div class="scroll">
        <table aria-label="Streams">
          <thead>
            <tr>
              <th>Tenant or topic</th>
              <th>User</th>
              <th>Transport</th>
              <th>Since</th>
              <th>Bytes queued</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {data?.streams.map((s) => (
              <tr key={s.id}>
                <td>{s.tenant ?? `topic ${s.topic}`}</td>
                <td>{s.user}</td>
                <td>{s.transport}</td>
                <td>{when(s.since)}</td>
                <td>{bytes(s.queued)}</td>
                <td>
                  <button type="button" class="secondary small" onClick={() => close(s.id)}>
                    Close
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

interface AppRow {
  app_id: string;
  name: string;
  tenant_name: string;
  active_users: number;
  key_list: { key_id: string; alias?: string; last_used: number; death: number }[];
  crashes: { id: string; error: string; first_line: string; count: number; platforms: string[] }[];
}

/** 30 bars, one a day: inline SVG (no chart library, nothing fetched). */
function Chart({ days }: { days: { day: number; count: number }[] }) {
  const max = Math.max(1, ...days.map((d) => d.count));
  return (
    <svg class="chart" viewBox="0 0 300 60" role="img" aria-label="Active users per day, last 30 days">
      {days.map((d, i) => {
        const h = (d.count / max) * 56;
        return (
          <rect key={d.day} x={i * 10 + 1} y={58 - h} width={8} height={Math.max(h, 0.5)}>
            <title>{`${new Date(d.day * 86_400_000).toISOString().slice(0, 10)}: ${d.count}`}</title>
          </rect>
        );
      })}
    </svg>
  );
}

function AppCard({ app, reload }: { app: AppRow; reload: () => void }) {
  const [secret, setSecret] = useState('');
  const [platform, setPlatform] = useState('');
  const [usage, setUsage] = useState<{ active: number; days: { day: number; count: number }[] }>();
  useEffect(
    () => void api<typeof usage>(`apps/usage${query({ app_id: app.app_id, platform })}`).then(setUsage, () => {}),
    [app.app_id, platform],
  );
  const newKey = async () => {
    const alias = prompt('Alias of the new key (optional)') ?? undefined;
    const { key } = await api<{ key: string }>('apps/keys', {
      body: { app_id: app.app_id, ...(alias ? { alias } : {}) },
    });
    setSecret(key);
    reload();
  };
  const drop = (id: string) => void api('apps/crashes/delete', { body: { app_id: app.app_id, id } }).finally(reload);
  const archive = (id: string) =>
    void api('apps/crashes/archive', { body: { app_id: app.app_id, id } }).finally(reload);
  return (
    <article class="card">
      <h2>
        {app.name || app.app_id}{' '}
        <small>
          {app.app_id} · tenant {app.tenant_name}
        </small>
      </h2>
      <h3>Active users (30 days): {usage?.active ?? app.active_users}</h3>
      <label>
        Platform
        <input value={platform} placeholder="all" onChange={(e) => setPlatform(e.currentTarget.value.trim())} />
      </label>
      {usage && <Chart days={usage.days} />}
      <h3>Keys</h3>
      <ul>
        {app.key_list.map((k) => (
          <li key={k.key_id}>
            <code>{k.key_id}</code> {k.alias} · last used {when(k.last_used)}
          </li>
        ))}
      </ul>
      <button type="button" onClick={() => void newKey()}>
        New key
      </button>
      {secret && (
        <p role="status" class="secret">
          The key's secret, shown once: <code>{secret}</code>
        </p>
      )}
      <h3>Crash reports</h3>
      {app.crashes.length === 0 && <p>None.</p>}
      <ul>
        {app.crashes.map((c) => (
          <li key={c.id}>
            <b>{c.error}</b> <code>{c.first_line}</code> ×{c.count} <small>{c.platforms.join(', ')}</small>{' '}
            <button type="button" class="secondary small" onClick={() => archive(c.id)}>
              Archive
            </button>{' '}
            <button type="button" class="secondary small" onClick={() => drop(c.id)}>
              Delete
            </button>
          </li>
        ))}
      </ul>
    </article>
  );
}

export function AppsPage() {
  const [data, reload, error] = usePoll<{ apps: AppRow[] }>('apps', 10_000);
  return (
    <section>
      {error && <p class="error">{error}</p>}
      {data?.apps.length === 0 && <p>No apps yet (broker apps create, or POST /create_app).</p>}
      {data?.apps.map((a) => (
        <AppCard key={a.app_id} app={a} reload={reload} />
      ))}
    </section>
  );
}

export function TopicsPage() {
  const [data, , error] = usePoll<{ topics: { topic: string; connections: number; subscribers: string[] }[] }>(
    'topics',
    3000,
  );
  return (
    <section>
      {error && <p class="error">{error}</p>}
      {data?.topics.length === 0 && <p>No active topics.</p>}
      <div class="scroll">
        <table aria-label="Topics">
          <thead>
            <tr>
              <th>Topic</th>
              <th>Connections</th>
              <th>Presence</th>
            </tr>
          </thead>
          <tbody>
            {data?.topics.map((t) => (
              <tr key={t.topic}>
                <td>{t.topic}</td>
                <td>{t.connections}</td>
                <td>{t.subscribers.join(', ') || '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

interface ServerInfo {
  version: string;
  uptime_seconds: number;
  db: { path: string; used_bytes: number; map_size: number };
  certificate: { domain: string; expires: number } | null;
  cluster: { nodes: { id: string; state: string }[] } | null;
  streams: number;
  warnings: { time: number; level: string; message: string }[];
}

const duration = (s: number) =>
  `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h ${Math.floor((s % 3600) / 60)}m ${s % 60}s`;

export function ServerPage() {
  const [info, , error] = usePoll<ServerInfo>('server', 5000);
  if (!info) return <p>{error || 'Loading…'}</p>;
  const ratio = info.db.map_size ? info.db.used_bytes / info.db.map_size : 0;
  return (
    <section>
      <dl class="card facts">
        <dt>Version</dt>
        <dd>{info.version}</dd>
        <dt>Uptime</dt>
        <dd>{duration(info.uptime_seconds)}</dd>
        <dt>Database</dt>
        <dd>
          {bytes(info.db.used_bytes)} of {bytes(info.db.map_size)} ({(ratio * 100).toFixed(1)} % of the map) ·{' '}
          <code>{info.db.path}</code>
          <meter min={0} max={1} value={ratio} aria-label="Map usage" />
        </dd>
        <dt>Certificate</dt>
        <dd>
          {info.certificate ? `${info.certificate.domain}, expires ${when(info.certificate.expires)}` : 'plain HTTP'}
        </dd>
        <dt>Cluster</dt>
        <dd>{info.cluster ? info.cluster.nodes.map((n) => `${n.id} (${n.state})`).join(', ') : 'not clustered'}</dd>
        <dt>Open streams</dt>
        <dd>{info.streams}</dd>
      </dl>
      <h2>Last warnings</h2>
      {info.warnings.length === 0 && <p>None since the start.</p>}
      <ul class="warnings">
        {[...info.warnings].reverse().map((w) => (
          <li key={`${w.time}-${w.message}`} class={w.level}>
            <small>{when(w.time)}</small> <b>{w.level}</b> {w.message}
          </li>
        ))}
      </ul>
    </section>
  );
}
