// The topics domain: broadcasting into the log, subscribing through the hub (replay-then-live, the same
// attach as tenant streams), presence, and the token checks every transport shares. No HTTP here:
// routes.ts is its HTTP face, ws.ts its WebSocket one.
import { BrokerError, badRequest, busy, unauthorized } from '../../errors.js';
import { Semaphore } from '../../lib/semaphore.js';
import type { EventLog } from '../../storage/event-log.js';
import type { IdempotencyClaim } from '../../storage/idempotency.js';
import type { PeerCounts, TopicPresence } from '../../storage/storage.js';
import { type TopicClaims, type TopicScope, TopicTokenError, type TopicTokens } from '../../tokens/topic-tokens.js';
import type { Hub } from '../hub.js';
import type { StartPosition } from '../replay.js';
import { type Framing, type Sink, Subscriber } from '../subscriber.js';
import type { Idempotency } from './idempotency.js';
import { TOPICS_STREAM, invalidTopic, topicKey } from './stream.js';

/** At most this many topics per WebSocket connection or SSE stream. */
export const MAX_TOPICS = 100;

/**
 * A presence answer lists `sub` claims up to this many bytes of JSON (connections stay exact): a topic
 * with 100k subscribers answers a bounded list, on one node and from each node of a cluster.
 */
export const PRESENCE_MAX_BYTES = 256 * 1024;
/** Presence questions to the other nodes in flight at once, and waiting (beyond: 503, retry). */
const MAX_ASKING = 8;
const MAX_ASKING_QUEUE = 64;

export const forbidden = (message: string) => new BrokerError(403, 'FORBIDDEN', message);

export interface TopicsParts {
  log: EventLog;
  hub: Hub;
  tokens: TopicTokens;
  idempotency: Idempotency;
  /** A cluster node's other nodes: presence counts their subscribers too. */
  otherNodes?: PeerCounts;
}

export type Presence = TopicPresence & { topic: string };

export class Topics {
  /** Bounds what the other nodes' answers hold in memory at once (each up to PRESENCE_MAX_BYTES). */
  private readonly asking = new Semaphore(MAX_ASKING, MAX_ASKING_QUEUE);

  constructor(private readonly parts: TopicsParts) {
    parts.otherNodes?.answerPresence((topic) => this.presence(topic));
  }

  get tokens(): TopicTokens {
    return this.parts.tokens;
  }

  /** A token's claims, or 401 (bad token) / 403 (another scope, a topic it does not list). */
  async authorize(
    token: string | undefined,
    scope: TopicScope | 'any',
    topics: readonly string[],
  ): Promise<TopicClaims> {
    if (!token) throw unauthorized('missing token');
    let claims: TopicClaims;
    try {
      claims = await this.parts.tokens.verify(token);
    } catch (err) {
      if (err instanceof TopicTokenError) throw unauthorized(err.message);
      throw err;
    }
    if (scope !== 'any' && claims.scope !== scope) throw forbidden(`token scope must be ${scope}`);
    for (const topic of topics) if (!claims.topics.includes(topic)) throw forbidden(`token does not list ${topic}`);
    return claims;
  }

  /** Appends the message (durable before it resolves); `key`: an Idempotency-Key. */
  async broadcast(topic: string, message: string, key: string | undefined): Promise<number> {
    const append = async (idempotency?: IdempotencyClaim) =>
      (await this.parts.log.append(TOPICS_STREAM, topic, JSON.stringify(message), { idempotency })).id;
    if (key === undefined) return append();
    return this.parts.idempotency.once(TOPICS_STREAM, key, JSON.stringify([topic, message]), append);
  }

  /**
   * One subscriber of `topics` (one topic: its own key in the hub; several: the topics' stream, filtered,
   * so that ids stay in order), attached from `after` or, without it, live from the committed head.
   */
  subscribe(init: {
    topics: readonly string[];
    claims: TopicClaims;
    sink: Sink;
    framing?: Framing;
    after?: StartPosition;
  }): { sub: Subscriber; attached: Promise<void> } {
    const { topics, claims, sink, framing } = init;
    const sub = new Subscriber({
      stream: TOPICS_STREAM,
      key: topics.length === 1 ? topicKey(topics[0]) : TOPICS_STREAM,
      username: TOPICS_STREAM,
      presence: claims.sub,
      sink,
      framing,
      names: new Set(topics),
      expiresAt: claims.exp * 1000,
    });
    // Read in the same turn as the attach registers it: nothing committed later is missed.
    const from = init.after ?? { after: this.parts.log.committedId(TOPICS_STREAM) };
    return { sub, attached: this.parts.hub.attach(sub, from) };
  }

  /** This node's subscribers of the topic (the dashboard's view, and this node's answer to the others). */
  presence(topic: string): Presence {
    const { hub } = this.parts;
    const subs = new Set<string>();
    let connections = 0;
    const count = (sub: Subscriber) => {
      connections++;
      if (sub.init.presence !== undefined) subs.add(sub.init.presence);
    };
    for (const sub of hub.subscribersOf(topicKey(topic))) count(sub);
    for (const sub of hub.subscribersOf(TOPICS_STREAM)) if (sub.init.names?.has(topic)) count(sub);
    return { topic, connections, subscribers: cut([...subs].sort()) };
  }

  /**
   * The topic's subscribers on every node (GET /presence): this node's, and the other nodes' answers
   * heard within a short wait. On one node, this node's.
   */
  async presenceEverywhere(topic: string): Promise<Presence> {
    const here = this.presence(topic);
    const others = this.parts.otherNodes;
    if (!others || others.nodes().length === 0) return here;
    const release = await this.asking.acquire().catch(() => {
      throw busy('too many presence questions at once: retry');
    });
    let answers: TopicPresence[];
    try {
      answers = await others.presenceOf(topic);
    } finally {
      release();
    }
    let { connections } = here;
    const subs = new Set(here.subscribers);
    for (const answer of answers) {
      connections += answer.connections;
      for (const sub of answer.subscribers) subs.add(sub);
    }
    return { topic, connections, subscribers: cut([...subs].sort()) };
  }
}

/**
 * The first sorted claims that fit PRESENCE_MAX_BYTES. A prefix in sort order, so that the cut of the
 * nodes' cuts is the cut of all their claims: every node answers the same list, the one node would.
 */
function cut(sorted: string[]): string[] {
  let bytes = 2;
  for (let i = 0; i < sorted.length; i++) {
    bytes += Buffer.byteLength(JSON.stringify(sorted[i])) + (i > 0 ? 1 : 0);
    if (bytes > PRESENCE_MAX_BYTES) return sorted.slice(0, i);
  }
  return sorted;
}

/** `topic`, or 400 naming what is wrong with it. */
export function checkTopic(topic: unknown): string {
  const problem = invalidTopic(topic);
  if (problem) throw badRequest(problem);
  return topic as string;
}
