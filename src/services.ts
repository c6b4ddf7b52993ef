// The application's parts, built once from a Config and wired together: the hub hears the event log's
// commits (it subscribes itself), identity's session ends close streams. Tests build it with a controllable clock.
import { Apps } from './apps/apps.js';
import type { Config } from './config.js';
import { Identity } from './identity/identity.js';
import { ensureLocalUser } from './identity/local.js';
import { createBiscuitIssuer } from './tokens/biscuit.js';
import { Tokens } from './tokens/tokens.js';
import { Hub } from './realtime/hub.js';
import { Idempotency } from './realtime/topics/idempotency.js';
import { Topics } from './realtime/topics/topics.js';
import { TopicTokens } from './tokens/topic-tokens.js';
import type { EventLog } from './storage/event-log.js';
import { Metrics } from './ops/metrics.js';
import { RecentWarnings } from './lib/log.js';
import { openConfiguredStorage, type Storage } from './storage/storage.js';

export interface Services {
  config: Config;
  storage: Storage;
  identity: Identity;
  log: EventLog;
  hub: Hub;
  apps: Apps;
  topics: Topics;
  idempotency: Idempotency;
  /** Prometheus metrics (ops/metrics.ts): read when /metrics is scraped. */
  metrics: Metrics;
  adminToken: string;
  /** The last warn/error lines the logger wrote (the dashboard's Server page). */
  warnings: RecentWarnings;
  /** When these services started (ms since epoch): the dashboard's uptime. */
  startedAt: number;
  /** Set when this start generated the admin token: the owner-only file holding it (the CLI says where). */
  generatedAdminTokenFile: string | undefined;
  now: () => number;
  close(): Promise<void>;
}

export interface ServiceOptions {
  now?: () => number;
}

const RETENTION_INTERVAL_MS = 60_000;

function clusterConnection(config: Config) {
  return {
    urls: config.nats!,
    credsFile: config.nats_creds,
    tlsCaFile: config.nats_tls_ca,
    replicas: config.nats_replicas,
    stream: process.env.BROKER_NATS_STREAM || undefined,
  };
}

/** A cluster node's catch-up progress, before the HTTP logger exists: a pino-shaped line on stderr. */
const logLine = (msg: string) =>
  void process.stderr.write(`${JSON.stringify({ level: 30, time: Date.now(), component: 'cluster', msg })}\n`);

export async function createServices(config: Config, options: ServiceOptions = {}): Promise<Services> {
  const now = options.now ?? Date.now;
  const storage = await openConfiguredStorage(config.db, {
    mapSize: config.map_size,
    now,
    ...(config.nats ? { nats: clusterConnection(config), log: logLine } : {}),
  });
  try {
    const given = { jwtSecret: config.jwt_secret, adminToken: config.admin_token };
    const secrets = await storage.secrets.load(given);
    let biscuit = await createBiscuitIssuer(secrets.biscuitPrivateKey);
    if (!secrets.biscuitPrivateKey) {
      await storage.secrets.saveBiscuitKey(biscuit.privateKeyText);
      // In a cluster another node may have kept its key first: every node signs with the kept one.
      const kept = (await storage.secrets.load(given)).biscuitPrivateKey;
      if (kept && kept !== biscuit.privateKeyText) biscuit = await createBiscuitIssuer(kept);
    }
    const tokens = new Tokens(secrets.jwtSecret, config.jwt_expiry, now);
    const identity = new Identity(storage.users, tokens, biscuit, storage, {
      passwordChecker: config.password_checker,
      local: config.local,
      totpDuration: config.totp_duration,
      jwtExpiry: config.jwt_expiry,
      now,
    });
    const log = storage.log;
    const hub = new Hub(log, {
      maxBuffer: config.max_buffer,
      maxStreamsPerUser: config.max_streams_per_user,
      heartbeatMs: config.heartbeat * 1000,
      now,
      otherNodes: storage.peers,
    });
    storage.peers?.start(() => hub.userStreams());
    if (config.local) await ensureLocalUser(identity.users, storage.users);
    identity.sessionEnded.subscribe(({ username }) => hub.closeUser(username));
    const { users, login, credentials } = identity;
    const apps = new Apps({
      ...{ apps: storage.apps, usage: storage.usage, crashes: storage.crashes },
      ...{ users, login, credentials, tokens, now },
      managementApp: config.management_app,
      crashRateLimit: config.crash_rate_limit,
    });
    apps.start();
    // notiflux's environment works as it is: its JWT_PUBLIC_KEY_B64 when --topic_public_key is unset.
    const topicOptions = {
      publicKeys: config.topic_public_key ?? (process.env.JWT_PUBLIC_KEY_B64 || undefined),
      save: (jwk: string) => storage.secrets.saveTopicKey(jwk),
      now,
    };
    let topicTokens = await TopicTokens.create({ ...topicOptions, privateJwk: secrets.topicPrivateJwk });
    if (!secrets.topicPrivateJwk) {
      // As the biscuit key: the first node's key pair is the cluster's.
      const kept = (await storage.secrets.load(given)).topicPrivateJwk;
      if (kept) topicTokens = await TopicTokens.create({ ...topicOptions, privateJwk: kept });
    }
    const idempotency = new Idempotency(log.idempotency, now);
    const topics = new Topics({ log, hub, tokens: topicTokens, idempotency, otherNodes: storage.peers });

    const usedBytes = () => storage.usedBytes();
    const metricSources = { hub, log, login, attempts: identity.attempts, usedBytes, mapSize: config.map_size };
    const metrics = new Metrics({ ...metricSources, tls: config.secure, now });

    const policy = { maxAgeMs: config.history_max_age * 1000, maxEvents: config.history_max_events };
    let retention: NodeJS.Timeout | undefined;
    if (policy.maxAgeMs > 0 || policy.maxEvents > 0) {
      const prune = () => void log.prune(policy, now()).catch(() => {});
      prune();
      retention = setInterval(prune, RETENTION_INTERVAL_MS);
      retention.unref();
    }
    const sweep = setInterval(() => void idempotency.sweep().catch(() => {}), RETENTION_INTERVAL_MS);
    sweep.unref();

    // Logged-out tokens are denied only until they expire: forget them then (bounded work per round).
    const pruneDenied = setInterval(
      () => void identity.selfService.pruneDenied().catch(() => {}),
      RETENTION_INTERVAL_MS,
    );
    pruneDenied.unref();

    return {
      config,
      storage,
      identity,
      log,
      hub,
      apps,
      topics,
      idempotency,
      metrics,
      adminToken: secrets.adminToken,
      warnings: new RecentWarnings(),
      startedAt: now(),
      generatedAdminTokenFile: secrets.adminTokenFile,
      now,
      async close() {
        if (retention) clearInterval(retention);
        clearInterval(pruneDenied);
        clearInterval(sweep);
        hub.closeAll();
        metrics.close();
        await apps.close();
        await storage.close();
      },
    };
  } catch (err) {
    await storage.close();
    throw err;
  }
}
