// The `latest` view: event name -> the data of its latest event. "The latest event is the schema": a
// form binds each field to a name here, and every window that subscribes converges on the same values.

export interface LatestEntry<T = unknown> {
  id: number;
  data: T;
}

export type LatestChange =
  | { type: 'set'; name: string; id: number; data: unknown }
  /** The broker sent `event:reset`: everything known was dropped; the snapshot follows. */
  | { type: 'reset' };

export class LatestView {
  private readonly entries = new Map<string, LatestEntry>();
  private readonly listeners = new Set<(change: LatestChange, view: LatestView) => void>();

  /** The latest data of that event name, or undefined. */
  get<T = unknown>(name: string): T | undefined {
    return this.entries.get(name)?.data as T | undefined;
  }

  /** The latest data with its event id. */
  entry<T = unknown>(name: string): LatestEntry<T> | undefined {
    return this.entries.get(name) as LatestEntry<T> | undefined;
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  get size(): number {
    return this.entries.size;
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  /** A plain object copy, for frameworks that render from plain data. */
  toObject(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [name, entry] of this.entries) out[name] = entry.data;
    return out;
  }

  /**
   * Calls `listener` on every change (store-style: returns the unsubscribe function). Listeners are
   * not called for what is already there; read it with get()/toObject() when subscribing.
   */
  subscribe(listener: (change: LatestChange, view: LatestView) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Applies an event. An older event than the one held for its name is ignored, so that the view only
   * moves forward whatever order replays and live frames are seen in. Returns whether it changed.
   */
  apply(name: string, id: number, data: unknown): boolean {
    const held = this.entries.get(name);
    if (held && Number.isFinite(id) && id <= held.id) return false;
    this.entries.set(name, { id, data });
    this.emit({ type: 'set', name, id, data });
    return true;
  }

  /** Drops everything (the broker's `event:reset`: its snapshot replaces what we had). */
  reset(): void {
    this.entries.clear();
    this.emit({ type: 'reset' });
  }

  private emit(change: LatestChange): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(change, this);
      } catch (err) {
        // One broken listener must not stop the others nor the stream; say so rather than hide it.
        console.error('broker client: a latest-view listener threw', err);
      }
    }
  }
}
