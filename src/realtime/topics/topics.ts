// The topics domain: broadcasting into the log, subscribing through the hub (replay-then-live, the same
// attach as tenant streams), presence, and the token checks every transport shares. No HTTP here:
// routes.ts is its HTTP face, ws.ts its WebSocket one.
import { BrokerError, badRequest, unauthorized } from '../../errors.js';
import type { EventLog } from '../../storage/event-log.js';
import type { IdempotencyClaim } from '../../storage/idempotency.js';
import { type TopicClaims, type TopicScope, TopicTokenError, type TopicTokens } from '../../tokens/topic-tokens.js';
import type { Hub } from '../hub.js';
import type { StartPosition } from '../replay.js';
import { type Framing, type Sink, Subscriber } from '../subscriber.js';
import type { Idempotency } from './idempotency.js';
import { TOPICS_STREAM, invalidTopic, topicKey } from './stream.js';

/** At most this many topics per WebSocket connection or SSE stream. */
export const MAX_TOPICS = 100;

export const forbidden = (message: string) => new BrokerError(403, 'FORBIDDEN', message);

export interface TopicsParts {
  log: EventLog;
  hub: Hub;
  tokens: TopicTokens;
  idempotency: Idempotency;
}

export class Topics {
  constructor(private readonly parts: TopicsParts) {}

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

  presence(topic: string): { topic: string; connections: number; subscribers: string[] } {
    const { hub } = this.parts;
    const subs = new Set<string>();
    let connections = 0;
    const count = (sub: Subscriber) => {
      connections++;
      if (sub.init.presence !== undefined) subs.add(sub.init.presence);
    };
    for (const sub of hub.subscribersOf(topicKey(topic))) count(sub);
    for (const sub of hub.subscribersOf(TOPICS_STREAM)) if (sub.init.names?.has(topic)) count(sub);
    return { topic, connections, subscribers: [...subs].sort() };
  }
}

/** `topic`, or 400 naming what is wrong with it. */
export function checkTopic(topic: unknown): string {
  const problem = invalidTopic(topic);
  if (problem) throw badRequest(problem);
  return topic as string;
}
