/**
 * The in-process lock between garbage collection and the steps that must
 * not interleave with a sweep: a collection holds it exclusively; steps
 * that start to use a resource found by looking (registering a pull's layers
 * as snapshots, where "the chain is there already" must stay true until the
 * image record is written) hold it shared, so any number run together.
 * Waiters are served first come, first served, so a steady stream of shared
 * holders cannot starve a collection.
 *
 *   await lock.shared(() => snapshotsFromLayers(snapshotter, layers));
 *   const report = await lock.exclusive(() => sweep());
 *
 * It is one process's lock: berthd is the one writer of its root.
 */
interface Waiter {
  exclusive: boolean;
  grant: () => void;
}

export class GcLock {
  #shared = 0;
  #exclusive = false;
  readonly #queue: Waiter[] = [];

  /** Runs `fn` while no collection runs. */
  shared<T>(fn: () => Promise<T> | T): Promise<T> {
    return this.#run(false, fn);
  }

  /** Runs `fn` alone. */
  exclusive<T>(fn: () => Promise<T> | T): Promise<T> {
    return this.#run(true, fn);
  }

  async #run<T>(exclusive: boolean, fn: () => Promise<T> | T): Promise<T> {
    await this.#acquire(exclusive);
    try {
      return await fn();
    } finally {
      this.#release(exclusive);
    }
  }

  #free(exclusive: boolean): boolean {
    return exclusive ? !this.#exclusive && this.#shared === 0 : !this.#exclusive;
  }

  #take(exclusive: boolean): void {
    if (exclusive) this.#exclusive = true;
    else this.#shared += 1;
  }

  #acquire(exclusive: boolean): Promise<void> {
    if (this.#queue.length === 0 && this.#free(exclusive)) {
      this.#take(exclusive);
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#queue.push({ exclusive, grant: resolve }));
  }

  #release(exclusive: boolean): void {
    if (exclusive) this.#exclusive = false;
    else this.#shared -= 1;
    while (this.#queue.length > 0 && this.#free(this.#queue[0]!.exclusive)) {
      const next = this.#queue.shift()!;
      this.#take(next.exclusive);
      next.grant();
    }
  }
}
