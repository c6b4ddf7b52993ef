// Runs the tasks given for one key one after another (tasks for other keys run alongside). A cluster
// node's read-modify-write (a conditional put) retries when another write to the record came first: a
// burst on one record from this node's own requests would make each round one winner and many retries
// (50 concurrent crash reports of one crash ran out of retries). Queued here, they meet only other
// nodes' writes. Bounded by the requests in flight: a key's entry goes when its last task ends.
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const result = (this.tails.get(key) ?? Promise.resolve()).then(task);
    const tail = result.then(
      () => {},
      () => {},
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Keys with a task queued or running. */
  get size(): number {
    return this.tails.size;
  }
}
