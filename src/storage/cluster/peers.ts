// What the nodes of a cluster tell each other beside the stream: each node's open streams per user, on
// NATS core subjects (not JetStream: counts are live state, worth nothing once old). Every node announces
// its counts each ANNOUNCE_MS; others sum the announcements younger than FRESH_MS, so a node that died
// stops counting within seconds. Bounded: an announcement is cut into messages of at most CHUNK users,
// and a node keeps at most MAX_PEERS peers' counts. A topic's presence is asked of them instead (presence.ts).
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { PeerCounts, TopicPresence } from '../storage.js';
import { PeerPresence } from './presence.js';

const ANNOUNCE_MS = 1_000;
const FRESH_MS = 3_500;
const CHUNK = 2_000;
const MAX_PEERS = 64;

interface Announcement {
  node: string;
  /** The announcement's round: the chunks of one round replace the node's previous round. */
  round: number;
  last: boolean;
  users: [string, number][];
  /** One user's count changed (a stream opened or closed): applied at once, between rounds. */
  delta?: boolean;
}

interface PeerState {
  at: number;
  round: number;
  users: Map<string, number>;
  /** The round being received (chunks), swapped in at its last chunk. */
  next: Map<string, number>;
}

export class Peers implements PeerCounts {
  private readonly peers = new Map<string, PeerState>();
  private readonly sub: Subscription;
  private readonly presence: PeerPresence;
  private timer: NodeJS.Timeout | undefined;
  private round = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subject: string,
    private readonly node: string,
  ) {
    this.sub = nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return;
        try {
          this.hear(msg.json<Announcement>());
        } catch {
          // Not an announcement of ours: ignored.
        }
      },
    });
    this.presence = new PeerPresence(nc, `${subject}.presence`, node);
  }

  /** Starts announcing what `counts` answers (this node's open streams per user). */
  start(counts: () => Iterable<[string, number]>): void {
    this.timer = setInterval(() => this.announce(counts), ANNOUNCE_MS);
    this.timer.unref();
  }

  private announce(counts: () => Iterable<[string, number]>): void {
    if (this.nc.isClosed()) return;
    const round = ++this.round;
    let chunk: [string, number][] = [];
    const send = (last: boolean) => {
      const body: Announcement = { node: this.node, round, last, users: chunk };
      try {
        this.nc.publish(this.subject, JSON.stringify(body));
      } catch {
        // Disconnected: the others stop counting this node until it announces again.
      }
      chunk = [];
    };
    for (const entry of counts()) {
      chunk.push(entry);
      if (chunk.length >= CHUNK) send(false);
    }
    send(true);
  }

  /**
   * Published before the stream's answer is written: a request on another node that follows it (after
   * that node's barrier, on the same NATS server) finds the count already there.
   */
  changed(username: string, streams: number): void {
    if (this.nc.isClosed()) return;
    const body: Announcement = { node: this.node, round: 0, last: false, users: [[username, streams]], delta: true };
    try {
      this.nc.publish(this.subject, JSON.stringify(body));
    } catch {
      // Disconnected: the next round tells the others.
    }
  }

  private hear(a: Announcement): void {
    if (a.node === this.node || typeof a.node !== 'string' || !Array.isArray(a.users)) return;
    let peer = this.peers.get(a.node);
    if (!peer) {
      this.forgetOld();
      if (this.peers.size >= MAX_PEERS) return;
      peer = { at: Date.now(), round: 0, users: new Map(), next: new Map() };
      this.peers.set(a.node, peer);
    }
    if (a.delta) {
      const [entry] = a.users;
      if (entry && typeof entry[0] === 'string' && typeof entry[1] === 'number') {
        peer.users.set(entry[0], entry[1]);
        peer.next.set(entry[0], entry[1]);
      }
      return;
    }
    if (a.round !== peer.round) {
      peer.round = a.round;
      peer.next = new Map();
    }
    for (const [user, n] of a.users) if (typeof user === 'string' && typeof n === 'number') peer.next.set(user, n);
    if (a.last) {
      peer.users = peer.next;
      peer.next = new Map();
      peer.at = Date.now();
    }
  }

  private forgetOld(): void {
    const cutoff = Date.now() - FRESH_MS;
    for (const [node, peer] of this.peers) if (peer.at < cutoff && peer.next.size === 0) this.peers.delete(node);
  }

  streamsOf(username: string): number {
    const cutoff = Date.now() - FRESH_MS;
    let n = 0;
    for (const peer of this.peers.values()) if (peer.at >= cutoff) n += peer.users.get(username) ?? 0;
    return n;
  }

  nodes(): string[] {
    const cutoff = Date.now() - FRESH_MS;
    return [...this.peers].filter(([, peer]) => peer.at >= cutoff).map(([node]) => node);
  }

  answerPresence(local: (topic: string) => TopicPresence): void {
    this.presence.answerWith(local);
  }

  presenceOf(topic: string): Promise<TopicPresence[]> {
    return this.presence.ask(topic, this.nodes().length);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.sub.unsubscribe();
    this.presence.close();
  }
}
