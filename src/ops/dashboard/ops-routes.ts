// The dashboard's Streams, Topics, Apps and Server pages: read-mostly listings over the hub, the apps
// domain and the storage, each bounded, and the few actions they offer (close a stream, make a key,
// archive or delete a crash report).
import type { FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { badRequest, notFound } from '../../errors.js';
import { ACTIVE_DAYS, MAX_PLATFORM_BYTES } from '../../apps/usage.js';
import { body, str } from '../../http/schema.js';
import { toPublicKey } from '../../apps/keys.js';
import type { Subscriber } from '../../realtime/subscriber.js';
import { TOPICS_STREAM } from '../../realtime/topics/stream.js';
import type { Services } from '../../services.js';
import { DASHBOARD_USER } from './events-routes.js';

/** Rows one listing holds at most. */
export const LIST_MAX = 500;

/** package.json's version, from the compiled server (dist/src/ops/dashboard) or the source (src/ops/dashboard). */
function packageVersion(): string {
  for (const up of ['../../../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'broker' && pkg.version) return pkg.version;
    } catch {
      // not there: the other layout
    }
  }
  return 'unknown';
}
const VERSION = packageVersion();

export interface DashboardOpsParts {
  services: Services;
}

export function opsRoutes(app: FastifyInstance, parts: DashboardOpsParts): void {
  const { hub, topics, apps, storage, config, warnings } = parts.services;
  // Stable ids for the listing (a WeakMap: a closed stream's entry goes with it).
  const ids = new WeakMap<Subscriber, number>();
  const byId = new Map<number, WeakRef<Subscriber>>();
  let nextId = 1;
  const idOf = (sub: Subscriber) => {
    let id = ids.get(sub);
    if (id === undefined) {
      ids.set(sub, (id = nextId++));
      byId.set(id, new WeakRef(sub));
    }
    return id;
  };

  app.get('/_/api/streams', async () => {
    const rows = [];
    let total = 0;
    for (const id of byId.keys()) if (!byId.get(id)?.deref() || byId.get(id)?.deref()?.closed) byId.delete(id);
    for (const sub of hub.subscribers()) {
      total++;
      if (rows.length >= LIST_MAX) continue;
      const topic = sub.key.startsWith(`${TOPICS_STREAM}/`) ? sub.key.slice(TOPICS_STREAM.length + 1) : undefined;
      rows.push({
        id: idOf(sub),
        tenant: sub.stream === TOPICS_STREAM ? null : sub.stream,
        topic: topic ?? (sub.stream === TOPICS_STREAM ? [...(sub.init.names ?? [])].join(',') : null),
        user: sub.username === DASHBOARD_USER ? '(dashboard)' : (sub.init.presence ?? sub.username),
        transport: sub.framing?.name ?? 'sse',
        since: sub.attachedAt,
        queued: sub.queuedBytes,
      });
    }
    return { total, streams: rows };
  });

  app.post<{ Body: { id: number } }>(
    '/_/api/streams/close',
    { schema: body(['id'], { id: { type: 'integer' } }) },
    async (req) => {
      const sub = byId.get(req.body.id)?.deref();
      if (!sub || sub.closed) throw notFound('no such stream');
      sub.end();
      return {};
    },
  );

  app.get('/_/api/topics', async () => {
    const names = new Set<string>();
    for (const sub of hub.subscribers()) {
      if (names.size >= LIST_MAX) break;
      if (sub.key.startsWith(`${TOPICS_STREAM}/`)) names.add(sub.key.slice(TOPICS_STREAM.length + 1));
      else if (sub.stream === TOPICS_STREAM) for (const n of sub.init.names ?? []) names.add(n);
    }
    return { topics: [...names].sort().map((t) => topics.presence(t)) };
  });

  app.get('/_/api/apps', async () => ({
    apps: apps.registry
      .list()
      .slice(0, LIST_MAX)
      .map((a) => ({
        ...a,
        key_list: apps.keys.list(a.app_id).slice(0, LIST_MAX).map(toPublicKey),
        active_users: apps.usage.count(a.app_id, undefined),
        crashes: apps.crashes
          .list(a.app_id)
          .slice(0, LIST_MAX)
          .map((c) => ({
            id: c.id,
            error: c.error,
            first_line: c.firstLine,
            count: c.individual.reduce((n, i) => n + i.count, 0),
            platforms: [...new Set(c.individual.map((i) => i.platform))].slice(0, 20),
          })),
      })),
  }));

  app.post<{ Body: { app_id: string; alias?: string } }>(
    '/_/api/apps/keys',
    { schema: body(['app_id'], { app_id: str, alias: str }) },
    async (req) => {
      apps.registry.get(req.body.app_id);
      const { key, record } = await apps.keys.create(req.body.app_id, { alias: req.body.alias, permissions: {} });
      return { key, key_id: record.key_id };
    },
  );

  app.post<{ Body: { app_id: string; id: string } }>(
    '/_/api/apps/crashes/delete',
    { schema: body(['app_id', 'id'], { app_id: str, id: str }) },
    async (req) => {
      apps.registry.get(req.body.app_id);
      if (!(await apps.crashes.delete(req.body.app_id, req.body.id))) throw notFound('no such crash report');
      return {};
    },
  );

  // The 30-day chart: ids last seen on each day (an id counts on its latest day only, as the store keeps it).
  app.get<{ Querystring: { app_id?: string; platform?: string } }>('/_/api/apps/usage', async (req) => {
    const appId = req.query.app_id ?? '';
    apps.registry.get(appId);
    const platform = req.query.platform || undefined;
    if (platform !== undefined && Buffer.byteLength(platform) > MAX_PLATFORM_BYTES)
      throw badRequest(`platform must be at most ${MAX_PLATFORM_BYTES} bytes`);
    const today = apps.usage.today();
    const days = [];
    for (let day = today - ACTIVE_DAYS + 1; day <= today; day++)
      days.push({ day, count: storage.usage.countDay(appId, day, platform) });
    return { app_id: appId, platform: platform ?? 'all', active: apps.usage.count(appId, platform), days };
  });

  // Archive a whole group: each distinct crash in it, on every platform, is dropped from now on.
  app.post<{ Body: { app_id: string; id: string } }>(
    '/_/api/apps/crashes/archive',
    { schema: body(['app_id', 'id'], { app_id: str, id: str }) },
    async (req) => {
      apps.registry.get(req.body.app_id);
      const report = apps.crashes.list(req.body.app_id).find((c) => c.id === req.body.id);
      if (!report) throw notFound('no such crash report');
      const seen = new Set<string>();
      for (const { error, stack } of report.individual) {
        if (seen.has(`${error}\0${stack}`)) continue;
        seen.add(`${error}\0${stack}`);
        await apps.crashes.archive(req.body.app_id, { error, stack, platform: 'all' });
      }
      return { archived: seen.size };
    },
  );

  app.get('/_/api/server', async (req) => {
    const socket = req.raw.socket as Partial<TLSSocket>;
    // The certificate this very connection was served (own files or ACME alike): domain and expiry.
    const cert = (typeof socket.getCertificate === 'function' ? socket.getCertificate() : null) as {
      valid_to?: string;
      subject?: { CN?: string };
    } | null;
    const certificate = cert?.valid_to
      ? { domain: config.domain ?? cert.subject?.CN ?? '', expires: Date.parse(cert.valid_to) }
      : null;
    return {
      version: VERSION,
      uptime_seconds: Math.floor((parts.services.now() - parts.services.startedAt) / 1000),
      db: { path: storage.path, used_bytes: storage.usedBytes(), map_size: config.map_size },
      certificate,
      cluster: clusterView(storage),
      streams: hub.size,
      warnings: warnings.list(),
    };
  });
}

/** A cluster node's view: itself (catching up or ready) and the other nodes it heard from; null on one node. */
function clusterView(storage: Services['storage']): { nodes: { id: string; state: string }[] } | null {
  const state = storage.state();
  if (!state) return null;
  const own = { id: 'this node', state: state.ready ? `ready, applied ${state.applied}` : 'catching up' };
  return { nodes: [own, ...(storage.peers?.nodes() ?? []).map((id) => ({ id, state: 'announcing' }))] };
}
