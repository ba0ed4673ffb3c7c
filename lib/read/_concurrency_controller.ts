/**
 * How many range requests the prefetcher keeps in flight, chosen from the
 * goodput it measures (bytes arriving per second), so no one has to pick a
 * number for a link they cannot see.
 *
 * - It starts at 4 (or the cap, if lower), the count that served well before
 *   there was a controller, and doubles while each doubling adds at least 20%
 *   goodput; the first doubling that does not (or that doubles the latency
 *   without a 50% gain) is undone and the controller holds there. The first
 *   measurement is a warm-up and not judged: while the prefetch window still
 *   opens, goodput rises at any limit.
 * - After undoing a doubling it tries a quarter fewer, and fewer again, as long
 *   as goodput stays within 3% of what it was where it reverted: fewer
 *   requests for the same bytes spare the server (and on loopback, where the
 *   CPU is the limit, they are faster).
 * - Holding, it probes now and then (every 8 measurements), a quarter more and
 *   a quarter fewer in turn: more is kept only if goodput rises by 8% or more
 *   (and then it grows on from there), fewer unless goodput falls by 3%.
 * - A measurement counts only while the limit binds (the prefetcher had a part
 *   ready and no slot for it): a reader that is slower than the link, or held
 *   by the in-flight byte cap, teaches it nothing, so it does not grow.
 * - A server that pushes back (503, 429) shrinks it at once, to a quarter below
 *   what was in flight, and sets a ceiling probes do not pass again. Requests
 *   sent before a shrink do not shrink it again (TCP's rule).
 * - A measurement lasts at least 100 ms and as many arrivals as the limit
 *   (about one from each request), and begins one first-arrival time after a
 *   change, when the new requests have started to deliver, or when the limit
 *   starts to bind. There is no timer: arrivals drive it.
 *
 * Private to the package: see `ReadOptions.adaptive` and `ReadStats`.
 *
 * @example Growing while goodput rises
 * ```ts
 * import { ConcurrencyController } from "./_concurrency_controller.ts";
 * import assert from "node:assert/strict";
 *
 * let now = 0;
 * const control = new ConcurrencyController({ max: 32, adaptive: true, now: () => now });
 * // Every connection adds 1 MB/s: each measurement sees limit × 1 MB/s.
 * for (let step = 0; step < 200; step++) {
 *   now += 10;
 *   control.blocked();
 *   control.firstByte(5);
 *   control.bytes(control.limit * 10_000);
 * }
 * assert.equal(control.limit, 32);
 * ```
 *
 * @module
 */
import type { ConcurrencyChange } from "./read_options.ts";

/** Options for {@linkcode ConcurrencyController}. */
export interface ConcurrencyControllerOptions {
  /** The upper bound (the fixed count when not adaptive). */
  max: number;
  /** Whether to adapt; when false the limit is `max`, always. */
  adaptive: boolean;
  /** The clock, ms. @default {performance.now} */
  now?: () => number;
}

const START = 4;
const GROW_GAIN = 1.2;
const PROBE_GAIN = 1.08;
const SHRINK_LOSS = 0.97;
const LATENCY_GAIN = 1.5;
const PROBE_EVERY = 8;
const MIN_EPOCH_MS = 100;
const MAX_SETTLE_MS = 1000;
/** Changes kept in the log: the first ones and the latest. */
const LOG_HEAD = 16;
const LOG_TAIL = 48;

/** Goodput (bytes/ms) and mean first-arrival time at a limit. */
interface Measurement {
  limit: number;
  goodput: number;
  ttfb: number;
}

/** A quarter of the limit, at least 1: the size of a probe. */
function step(limit: number): number {
  return Math.max(1, limit >> 2);
}

/** See the module doc. */
export class ConcurrencyController {
  #adaptive: boolean;
  #max: number;
  #ceiling: number;
  #limit: number;
  #now: () => number;
  #opened: number;
  /**
   * `grow`: doubling; `reference`: measuring where a doubling was undone;
   * `shrink`: trying a quarter fewer; `probe`: trying a quarter more; `hold`.
   */
  #phase: "grow" | "reference" | "shrink" | "probe" | "hold" = "grow";
  /** The last limit a shrink kept, to go back to. */
  #shrinkLimit = 0;
  #nextProbeUp = true;
  /** When the limit last shrank: pushbacks of requests sent before do not count. */
  #shrunkAt = -Infinity;
  /** The measurement the current step is judged against. */
  #before: Measurement | undefined;
  #holds = 0;
  // The running measurement.
  #from = 0;
  #bytes = 0;
  #arrivals = 0;
  #warm = false;
  #binding = false;
  #ttfbSum = 0;
  #ttfbCount = 0;
  /** Smoothed first-byte time, ms; the least seen. */
  #ttfb: number | undefined;
  #minTtfb = Infinity;
  #peak: number;
  #pushbacks = 0;
  #log: ConcurrencyChange[] = [];
  #dropped = 0;

  constructor(options: ConcurrencyControllerOptions) {
    this.#adaptive = options.adaptive;
    this.#max = options.max;
    this.#ceiling = options.max;
    this.#now = options.now ?? (() => performance.now());
    this.#opened = this.#now();
    this.#limit = this.#adaptive ? Math.min(START, this.#max) : this.#max;
    this.#peak = this.#limit;
    this.#record("start");
    this.#restart(0);
  }

  /** Requests in flight allowed now. */
  get limit(): number {
    return this.#limit;
  }

  /** The highest limit so far. */
  get peak(): number {
    return this.#peak;
  }

  /** 503 and 429 answers seen. */
  get pushbacks(): number {
    return this.#pushbacks;
  }

  /** The changes of the limit (the first 16 and the latest 48). */
  get changes(): ConcurrencyChange[] {
    return this.#log.map((c) => ({ ...c }));
  }

  /** Changes left out of {@linkcode changes} (between the first and the latest). */
  get changesOmitted(): number {
    return this.#dropped;
  }

  /** The prefetcher had a part ready and no request slot for it. */
  blocked(): void {
    if (this.#binding) return;
    this.#binding = true;
    // Measure from when the limit binds: bytes before it (the window
    // opening) say nothing about what the limit allows.
    const now = this.#now();
    if (now > this.#from) {
      this.#from = now;
      this.#bytes = 0;
      this.#arrivals = 0;
      this.#ttfbSum = 0;
      this.#ttfbCount = 0;
    }
  }

  /** A request's first bytes came after `ms` (for a source that does not stream: all of them). */
  firstByte(ms: number): void {
    this.#ttfb = this.#ttfb === undefined ? ms : 0.8 * this.#ttfb + 0.2 * ms;
    this.#minTtfb = Math.min(this.#minTtfb, ms);
    if (this.#now() >= this.#from) {
      this.#ttfbSum += ms;
      this.#ttfbCount++;
    }
  }

  /** Bytes arrived. */
  bytes(n: number): void {
    if (!this.#adaptive) return;
    const now = this.#now();
    if (now < this.#from) return;
    this.#bytes += n;
    this.#arrivals++;
    const elapsed = now - this.#from;
    if (elapsed >= MIN_EPOCH_MS && this.#arrivals >= this.#limit) this.#judge(elapsed);
  }

  /**
   * The server pushed back (503, 429) on a request sent at `sentAt` (the
   * clock's time) while `inFlight` requests were out.
   */
  pushback(inFlight: number, sentAt: number): void {
    this.#pushbacks++;
    if (!this.#adaptive || sentAt < this.#shrunkAt) return;
    const next = Math.max(1, Math.min(this.#limit - 1, Math.floor(0.75 * inFlight)));
    this.#ceiling = Math.max(1, Math.min(this.#ceiling, next));
    if (next >= this.#limit) return;
    this.#limit = next;
    this.#shrunkAt = this.#now();
    this.#hold();
    this.#record("pushback");
    this.#restart(this.#ttfb ?? 0);
  }

  /** A hard seek: what is in flight is gone; what was learnt about the link stays. */
  reset(): void {
    this.#restart(this.#ttfb ?? 0);
  }

  #judge(elapsed: number): void {
    const binding = this.#binding;
    const goodput = this.#bytes / elapsed;
    const ttfb = this.#ttfbCount === 0 ? (this.#ttfb ?? 0) : this.#ttfbSum / this.#ttfbCount;
    this.#restart(0);
    // Unless the limit held requests back, more of them could not have helped.
    if (!binding) return;
    if (!this.#warm) {
      this.#warm = true;
      return;
    }
    const now: Measurement = { limit: this.#limit, goodput, ttfb };
    const before = this.#before;
    switch (this.#phase) {
      case "grow":
        if (before !== undefined && !this.#paid(before, now, GROW_GAIN)) {
          // Past the knee: back to what paid, then see whether fewer do as well.
          this.#change(before.limit, "revert");
          this.#phase = "reference";
          this.#before = undefined;
          return;
        }
        this.#before = now;
        if (!this.#change(this.#limit * 2, "grow")) this.#hold();
        return;
      case "reference":
        this.#shrinkFrom(now);
        return;
      case "shrink":
        if (now.goodput >= before!.goodput * SHRINK_LOSS) {
          this.#record("keep");
          this.#shrinkLimit = this.#limit;
          // Fewer still, judged against the same reference: losses don't add up.
          if (!this.#change(this.#limit - step(this.#limit), "probe")) this.#hold();
        } else {
          this.#change(this.#shrinkLimit, "revert");
          this.#hold();
        }
        return;
      case "probe":
        if (this.#paid(before!, now, PROBE_GAIN)) {
          this.#record("keep");
          // More paid: go on growing from here.
          this.#phase = "grow";
          this.#before = now;
          if (!this.#change(this.#limit + step(this.#limit), "grow")) this.#hold();
        } else {
          this.#change(before!.limit, "revert");
          this.#hold();
        }
        return;
      case "hold": {
        if (++this.#holds < PROBE_EVERY) return;
        const up = this.#nextProbeUp;
        this.#nextProbeUp = !up;
        if (up) {
          this.#before = now;
          this.#phase = "probe";
          if (!this.#change(this.#limit + step(this.#limit), "probe")) this.#hold();
        } else {
          this.#shrinkFrom(now);
        }
      }
    }
  }

  /** Tries a quarter fewer requests, judged against `reference`. */
  #shrinkFrom(reference: Measurement): void {
    this.#before = reference;
    this.#shrinkLimit = this.#limit;
    this.#phase = "shrink";
    if (!this.#change(this.#limit - step(this.#limit), "probe")) this.#hold();
  }

  #hold(): void {
    this.#phase = "hold";
    this.#holds = 0;
    this.#before = undefined;
  }

  /** Whether the step from `before` to `now` paid for its requests. */
  #paid(before: Measurement, now: Measurement, needed: number): boolean {
    const gain = now.goodput / Math.max(before.goodput, 1);
    if (gain < needed) return false;
    // Latency that doubled means requests queue somewhere: worth it only
    // for a large gain.
    if (now.ttfb > 2 * Math.max(before.ttfb, this.#minTtfb, 1) && gain < LATENCY_GAIN) return false;
    return true;
  }

  /** Moves the limit (within 1 and the ceiling); false when it could not move. */
  #change(limit: number, reason: ConcurrencyChange["reason"]): boolean {
    const next = Math.max(1, Math.min(this.#max, this.#ceiling, limit));
    if (next === this.#limit) return false;
    if (next < this.#limit) this.#shrunkAt = this.#now();
    this.#limit = next;
    this.#peak = Math.max(this.#peak, next);
    this.#record(reason);
    this.#restart(this.#ttfb ?? 0);
    return true;
  }

  #restart(settleMs: number): void {
    this.#from = this.#now() + Math.min(settleMs, MAX_SETTLE_MS);
    this.#bytes = 0;
    this.#arrivals = 0;
    this.#binding = false;
    this.#ttfbSum = 0;
    this.#ttfbCount = 0;
  }

  #record(reason: ConcurrencyChange["reason"]): void {
    this.#log.push({
      atMs: Math.round(this.#now() - this.#opened),
      concurrency: this.#limit,
      reason,
    });
    if (this.#log.length > LOG_HEAD + LOG_TAIL) {
      this.#log.splice(LOG_HEAD, 1);
      this.#dropped++;
    }
  }
}
