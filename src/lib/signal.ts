// A named, typed event a part publishes for whoever wants it (PocketBase's core events): the log's
// `committed`, identity's `sessionEnded`. The publisher does not know its listeners; a listener sees the
// publisher's field by name and type, instead of a callback that only the composition root wires.

export type Listener<T> = (value: T) => void;

export class Signal<T> {
  private readonly listeners = new Set<Listener<T>>();

  /** Returns the unsubscribe. */
  subscribe(listener: Listener<T>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(value: T): void {
    for (const listener of this.listeners) listener(value);
  }
}
