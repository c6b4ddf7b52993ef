// A topic's presence across the nodes of a cluster (GET /presence): the node asked publishes a question
// on a NATS core subject and each other node answers from its own subscribers (realtime/topics/topics.ts
// says how, and cuts the list). Asked, not announced like the stream counts (peers.ts): a node with many
// topics sends nothing until someone asks about one, and the answer is as fresh as the question.
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { TopicPresence } from '../storage.js';

/** How long a question waits for the others: a node slower than this is left out of that answer. */
const ANSWER_WAIT_MS = 500;
/** The longest topic a question may name (topics are at most 256 characters): others are not answered. */
const MAX_TOPIC_CHARS = 1_024;

interface Question {
  node: string;
  topic: string;
}

interface Answer extends TopicPresence {
  node: string;
}

export class PeerPresence {
  private readonly sub: Subscription;
  private local: ((topic: string) => TopicPresence) | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subject: string,
    private readonly node: string,
  ) {
    this.sub = nc.subscribe(subject, {
      callback: (err, msg) => {
        if (!err) this.answer(msg);
      },
    });
  }

  /** Answers the other nodes' questions with `local` (this node's subscribers of a topic). */
  answerWith(local: (topic: string) => TopicPresence): void {
    this.local = local;
  }

  private answer(msg: Msg): void {
    if (!this.local || !msg.reply) return;
    let q: Question;
    try {
      q = msg.json<Question>();
    } catch {
      return; // Not a question of ours.
    }
    // Every node hears every question, its own too: it counts itself without the round trip.
    if (q?.node === this.node || typeof q?.topic !== 'string' || q.topic.length > MAX_TOPIC_CHARS) return;
    const { connections, subscribers } = this.local(q.topic);
    const body: Answer = { node: this.node, connections, subscribers };
    try {
      msg.respond(JSON.stringify(body));
    } catch {
      // Disconnected: the asking node sums without this one.
    }
  }

  /** The answers of the `expected` other nodes to a question on `topic`, those heard within the wait. */
  async ask(topic: string, expected: number): Promise<TopicPresence[]> {
    if (expected <= 0 || this.nc.isClosed()) return [];
    const answers = new Map<string, TopicPresence>();
    const question: Question = { node: this.node, topic };
    try {
      const replies = await this.nc.requestMany(this.subject, JSON.stringify(question), {
        strategy: 'count',
        maxMessages: expected,
        maxWait: ANSWER_WAIT_MS,
      });
      for await (const reply of replies) {
        const a = parsed(reply);
        // One answer per node: a node heard twice (a reconnect) is not counted twice.
        if (a && a.node !== this.node) answers.set(a.node, { connections: a.connections, subscribers: a.subscribers });
      }
    } catch {
      // Disconnected, or no other node listening: the answer counts the nodes that answered.
    }
    return [...answers.values()];
  }

  close(): void {
    this.sub.unsubscribe();
  }
}

/** An answer as the wire holds it, or undefined when it is not one (its size is NATS's max_payload's). */
function parsed(msg: Msg): Answer | undefined {
  let a: Answer;
  try {
    a = msg.json<Answer>();
  } catch {
    return undefined;
  }
  if (typeof a?.node !== 'string' || !Number.isSafeInteger(a.connections) || a.connections < 0) return undefined;
  if (!Array.isArray(a.subscribers) || !a.subscribers.every((s) => typeof s === 'string')) return undefined;
  return a;
}
