/**
 * A budget of bytes that requests reserve before they buffer a body, served
 * first come, first served: keepstore's buffer pool, as bytes. A reservation
 * that cannot be had within its wait is refused, so a server under load (or
 * under clients that stall mid-body) stays within its memory. Private to the
 * package.
 *
 * @example
 * ```ts
 * import { ByteBudget } from "./_byte_budget.ts";
 *
 * const budget = new ByteBudget(100);
 * const release = await budget.reserve(60, { wait: 10 });
 * if (release === undefined) throw new Error("60 of 100 bytes should be free");
 * const refused = await budget.reserve(60, { wait: 10 });
 * if (refused !== undefined) throw new Error("the budget should be spent");
 * release();
 * if (budget.available !== 100) throw new Error("released bytes come back");
 * ```
 *
 * @module
 */

interface Waiter {
  bytes: number;
  grant: (release: () => void) => void;
}

/** See the module doc. */
export class ByteBudget {
  /** Bytes in all. */
  readonly total: number;
  #used = 0;
  #queue: Waiter[] = [];

  /**
   * Creates a {@linkcode ByteBudget}.
   *
   * @param total Bytes in all, a positive integer.
   * @throws {RangeError} When `total` is not a positive safe integer.
   */
  constructor(total: number) {
    if (!Number.isSafeInteger(total) || total <= 0) {
      throw new RangeError(
        `Cannot construct ByteBudget as total must be a positive integer: current value is ${total}`,
      );
    }
    this.total = total;
  }

  /** Bytes not reserved now. */
  get available(): number {
    return this.total - this.#used;
  }

  /** Reservations waiting now. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Whether a reservation of `bytes` would be granted at once. */
  fits(bytes: number): boolean {
    return this.#queue.length === 0 &&
      this.#used + Math.min(Math.max(0, bytes), this.total) <= this.total;
  }

  /**
   * Reserves `bytes` (at most the total), waiting behind earlier requests up
   * to `wait` ms.
   *
   * @param bytes How many.
   * @param options How long to wait, ms; a signal that gives up waiting.
   * @returns The release function, or `undefined` when the wait ran out or
   *   the signal fired first. Call the release exactly once.
   */
  reserve(
    bytes: number,
    options: { wait: number; signal?: AbortSignal },
  ): Promise<(() => void) | undefined> {
    const amount = Math.min(Math.max(0, bytes), this.total);
    if (this.#queue.length === 0 && this.#used + amount <= this.total) {
      this.#used += amount;
      return Promise.resolve(this.#releaser(amount));
    }
    return new Promise((resolve) => {
      // Both closures run only after `timer` below is set.
      const giveUp = (): void => {
        const at = this.#queue.indexOf(waiter);
        if (at >= 0) this.#queue.splice(at, 1);
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", giveUp);
        resolve(undefined);
        // Those behind may fit now.
        this.#grant();
      };
      const waiter: Waiter = {
        bytes: amount,
        grant: (release) => {
          clearTimeout(timer);
          options.signal?.removeEventListener("abort", giveUp);
          resolve(release);
        },
      };
      this.#queue.push(waiter);
      const timer = setTimeout(giveUp, options.wait);
      options.signal?.addEventListener("abort", giveUp, { once: true });
      if (options.signal?.aborted) giveUp();
    });
  }

  #releaser(amount: number): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#used -= amount;
      this.#grant();
    };
  }

  /** Grants waiting reservations in order while they fit. */
  #grant(): void {
    while (this.#queue.length > 0 && this.#used + this.#queue[0]!.bytes <= this.total) {
      const waiter = this.#queue.shift()!;
      this.#used += waiter.bytes;
      waiter.grant(this.#releaser(waiter.bytes));
    }
  }
}
