/**
 * The adaptive prefetch engine behind {@linkcode openReader} and
 * {@linkcode openReadable}: gcsfs's producer/consumer prefetcher, reworked.
 *
 * - A running average of the last 10 read sizes is the IO size; a streak counts
 *   sequential reads; the window is `min((streak + 1) × io, maxPrefetch)` with
 *   `maxPrefetch = max(2 × io, 128 MiB)`, capped by the user's limit.
 * - The window is cut into chunks of at least 5 MiB once it allows; a chunk is
 *   split into parallel range requests (all `maxRangeRequests` for the first,
 *   demand-driven reads; in proportion to its share of the window after).
 * - Beyond gcsfs: as many requests in flight as the concurrency controller
 *   allows (it learns the count from measured goodput, up to
 *   `maxRangeRequests`; see `_concurrency_controller.ts`) and at most
 *   `maxInFlightBytes`, nearest bytes first (so demand goes before
 *   speculation); a source with a `boundary` (a manifest's blocks) has its
 *   requests cut at it, so each is whole blocks, and once reads are
 *   sequential its window holds three blocks, whatever the read size; a read
 *   resolves once its own bytes are in, not its whole part (through the
 *   source's `stream()` when it has one; `read()` sources hand over whole
 *   parts); a hard seek aborts requests in flight instead of waiting for them.
 * - Parts are whole multiples of the read size, so sequential reads come out
 *   as views of the source's pieces rather than copies.
 * - Soft seek: forward inside the scheduled window, skipped bytes are dropped
 *   (never copied). Hard seek: anything else; everything restarts there.
 * - A failed request stops the prefetch past it. Its error is raised by the
 *   read that needs bytes it did not deliver (the reads before it go on), and
 *   by every read after that until a seek; `close()` aborts everything and
 *   settles every promise. A hard seek or close settles a waiting read at
 *   once, even when the source ignores the signal.
 *
 * Private to the package.
 *
 * @module
 */
import { setMaxListeners } from "node:events";
import { ConcurrencyController } from "./_concurrency_controller.ts";
import type { RangeReadOptions, RangeSource } from "./range_source.ts";
import type { ReadOptions, ReadStats } from "./read_options.ts";

const MiB = 1024 * 1024;
const MIN_CHUNK = 5 * MiB;
const MAX_CHUNK = 8 * MiB;
/**
 * For sources that stream: their parts arrive in pieces, not one buffer a
 * part, so larger parts (fewer requests) cost no memory.
 */
const MAX_STREAMED_CHUNK = 32 * MiB;
const MIN_MAX_PREFETCH = 128 * MiB;
const HISTORY = 10;
const DEMAND_STREAK = 3;
/** Units (blocks) in the window of a sequential read of a source with boundaries. */
const UNITS_AHEAD = 3;

interface Part {
  readonly start: number;
  readonly end: number;
  /** Arrived bytes not yet read past, in order; `pieces[0]` begins at `base`. */
  pieces: Uint8Array[];
  base: number;
  /** Bytes before this offset have arrived. */
  received: number;
  error: unknown;
  state: "queued" | "running" | "settled";
  dropped: boolean;
  controller: AbortController | undefined;
  /** Cancels the source's stream, for a source that ignores the signal. */
  cancel: (() => void) | undefined;
  /** Resolves at the next arrival or when the part settles; renewed each time. */
  changed: Promise<void>;
  notify: () => void;
}

/** See the module doc. */
export class Prefetcher {
  readonly start: number;
  readonly end: number;
  #source: RangeSource;
  #control: ConcurrencyController;
  #userMax: number;
  #maxInFlightBytes: number | undefined;
  #position: number;
  #parts: Part[] = [];
  #scheduledEnd: number;
  #history: number[] = [];
  #streak = 0;
  #lastReadEnd = -1;
  /** The largest part cut at the source's boundaries (a block), bytes. */
  #unit = 0;
  /** The error reads raise until a seek: set when a read met a failure. */
  #error: { error: unknown } | undefined;
  /** Where the first failed request began: nothing at or past it is fetched. */
  #failedAt = Infinity;
  #closed: { reason: unknown } | undefined;
  #inFlight = 0;
  #inFlightBytes = 0;
  #stats = { requests: 0, bytesAsked: 0, bytesFetched: 0, softSeeks: 0, hardSeeks: 0, waitMs: 0 };

  constructor(source: RangeSource, options: Omit<ReadOptions, "signal"> = {}) {
    if (source === null || typeof source !== "object" || typeof source.read !== "function") {
      throw new TypeError("Cannot read: the source must have size and read(start, end)");
    }
    this.#source = source;
    this.start = options.start ?? 0;
    this.end = Math.min(options.end ?? source.size, source.size);
    if (!Number.isSafeInteger(this.start) || this.start < 0 || this.start > this.end) {
      throw new RangeError(`Cannot read from ${this.start}: the source has ${source.size} bytes`);
    }
    const adaptive = options.adaptive ?? true;
    if (typeof adaptive !== "boolean") {
      throw new TypeError(`Cannot read with adaptive ${String(adaptive)}: expected a boolean`);
    }
    const max = options.maxRangeRequests ?? (adaptive ? 32 : 4);
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new RangeError(`Cannot read with maxRangeRequests ${max}: expected an integer >= 1`);
    }
    this.#control = new ConcurrencyController({ max, adaptive });
    this.#userMax = options.maxPrefetch ?? 256 * MiB;
    if (!(this.#userMax >= 0)) {
      throw new RangeError(`Cannot read with maxPrefetch ${this.#userMax}`);
    }
    this.#maxInFlightBytes = options.maxInFlightBytes;
    this.#position = this.start;
    this.#scheduledEnd = this.start;
  }

  /** The next byte a read returns. */
  get position(): number {
    return this.#position;
  }

  /** Statistics so far. */
  get stats(): ReadStats {
    const s = this.#stats;
    const control = this.#control;
    return {
      ...s,
      amplification: s.bytesAsked === 0 ? 1 : s.bytesFetched / s.bytesAsked,
      concurrency: control.limit,
      peakConcurrency: control.peak,
      concurrencyChanges: control.changes,
      pushbacks: control.pushbacks,
    };
  }

  /**
   * Reads up to `n` bytes at the position (exactly `n` unless the end comes
   * first); `null` at the end.
   */
  async read(n: number, signal?: AbortSignal): Promise<Uint8Array | null> {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new RangeError(`Cannot read ${n} bytes: expected an integer >= 0`);
    }
    this.#throwIfUnusable();
    signal?.throwIfAborted();
    const from = this.#position;
    if (from >= this.end) return null;
    const to = Math.min(this.end, from + n);
    if (to === from) return new Uint8Array(0);
    this.#streak = this.#lastReadEnd === from ? this.#streak + 1 : 0;
    this.#history.push(to - from);
    if (this.#history.length > HISTORY) this.#history.shift();
    this.#stats.bytesAsked += to - from;
    this.#schedule(to);
    this.#pump();
    const pieces: Uint8Array[] = [];
    // A snapshot: seeks while this read waits change the list.
    const needed = this.#parts.filter((part) => part.end > from && part.start < to);
    for (const part of needed) {
      // Progressive hand-off: wait for this read's bytes, not the whole part.
      const need = Math.min(to, part.end);
      if (!arrived(part, need)) {
        const waited = performance.now();
        while (!arrived(part, need)) await this.#wait(part, signal);
        this.#stats.waitMs += performance.now() - waited;
      }
      this.#throwIfUnusable();
      // Only when a read needs bytes that did not come does a request's
      // failure become the reader's: a failed prefetch further ahead, or
      // the end of a range that broke off, leaves the reads before it alone.
      if (part.error !== undefined && part.received < need) throw this.#fail(part.error);
      if (part.dropped || this.#position !== from) {
        throw new Error("Cannot finish the read: the position moved while it waited");
      }
      const lo = Math.max(from, part.start);
      let at = part.base;
      for (const piece of part.pieces) {
        const pieceEnd = at + piece.length;
        if (pieceEnd > lo && at < need) {
          pieces.push(piece.subarray(Math.max(lo, at) - at, Math.min(need, pieceEnd) - at));
        }
        at = pieceEnd;
        if (at >= need) break;
      }
    }
    let bytes: Uint8Array;
    if (pieces.length === 1) bytes = pieces[0]!;
    else {
      bytes = new Uint8Array(to - from);
      let at = 0;
      for (const p of pieces) {
        bytes.set(p, at);
        at += p.length;
      }
    }
    if (bytes.length !== to - from) {
      throw this.#fail(
        new Error(`Cannot read bytes ${from}-${to - 1}: the source returned ${bytes.length}`),
      );
    }
    this.#position = to;
    this.#lastReadEnd = to;
    this.#dropBefore(to);
    this.#schedule(to);
    this.#pump();
    return bytes;
  }

  /** Moves the position; a forward move inside the window keeps the prefetch (soft), any other restarts it (hard). */
  seek(position: number): void {
    if (!Number.isSafeInteger(position) || position < this.start || position > this.end) {
      throw new RangeError(`Cannot seek to ${position}: the view is [${this.start}, ${this.end}]`);
    }
    if (this.#closed) throw this.#closedError();
    const failed = this.#error !== undefined || this.#failedAt !== Infinity;
    if (position === this.#position && !failed) return;
    if (!failed && position > this.#position && position < this.#scheduledEnd) {
      this.#stats.softSeeks++;
      this.#dropBefore(position);
      this.#position = position;
      this.#lastReadEnd = position;
      this.#pump();
      return;
    }
    this.#stats.hardSeeks++;
    this.#control.reset();
    for (const part of this.#parts) this.#drop(part);
    this.#parts = [];
    this.#error = undefined;
    this.#failedAt = Infinity;
    this.#position = position;
    this.#scheduledEnd = position;
    this.#streak = 0;
    this.#history = [];
    this.#lastReadEnd = -1;
  }

  /** Aborts every request, settles every read, closes the source. */
  async close(reason: unknown = new Error("the reader was closed")): Promise<void> {
    if (this.#closed) return;
    this.#closed = { reason };
    for (const part of this.#parts) this.#drop(part);
    this.#parts = [];
    await this.#source.close?.();
  }

  #window(): { io: number; window: number } {
    const io = this.#history.length === 0
      ? MiB
      : this.#history.reduce((a, b) => a + b, 0) / this.#history.length;
    // A source read in whole units (a manifest's blocks): once reads are
    // sequential, the window holds the unit being read and two more, so
    // that blocks are fetched ahead whatever the read size (a 64 MiB block
    // is 64 reads of 1 MiB: the io-based window would reach the next block
    // only as this one ends, and one block would be fetched at a time).
    const units = this.#streak >= 1
      ? UNITS_AHEAD * Math.max(this.#unit, this.#source.unit ?? 0)
      : 0;
    const maxPrefetch = Math.min(this.#userMax, Math.max(2 * io, MIN_MAX_PREFETCH, units));
    return {
      io: Math.max(1, Math.round(io)),
      window: Math.min(Math.max((this.#streak + 1) * io, units), maxPrefetch),
    };
  }

  /** Adds parts so the schedule reaches the window (and at least `minEnd`). */
  #schedule(minEnd: number): void {
    const { io, window } = this.#window();
    const target = Math.min(this.end, Math.max(minEnd, this.#position + Math.round(window)));
    if (this.#scheduledEnd < this.#position) this.#scheduledEnd = this.#position;
    const concurrency = this.#control.limit;
    const boundary = this.#source.boundary?.bind(this.#source);
    while (this.#scheduledEnd < target) {
      // gcsfs's chunk is max(5 MiB, io); larger windows get larger chunks (an
      // eighth of the window at concurrency 4), so a long sequential read makes
      // fewer requests. Up to 8 MiB for a source that hands over one buffer a
      // part: not bigger buffers than the allocator keeps on its heap
      // (measured: 32 MiB ran at half the speed); up to 32 MiB for one that
      // streams its parts in pieces.
      let chunk = window >= MIN_CHUNK
        ? Math.max(
          MIN_CHUNK,
          io,
          Math.min(
            this.#source.stream ? MAX_STREAMED_CHUNK : MAX_CHUNK,
            Math.floor(window / (2 * concurrency)),
          ),
        )
        : io;
      // Whole reads to a chunk and to a part: sequential reads then begin at
      // a part's start or inside one of the source's pieces, and are handed
      // over as views instead of copies.
      if (chunk > io) chunk = Math.ceil(chunk / io) * io;
      chunk = Math.min(chunk, this.end - this.#scheduledEnd);
      // First (demand) reads use every connection; later ones a share in
      // proportion to the chunk's part of the window. Never below 1 MiB a part.
      const wanted = this.#streak < DEMAND_STREAK
        ? concurrency
        : Math.max(1, Math.round((chunk * concurrency) / Math.max(window, chunk)));
      const parts = Math.max(1, Math.min(wanted, Math.floor(chunk / MiB)));
      const size = Math.ceil(chunk / parts / io) * io;
      const from = this.#scheduledEnd;
      if (boundary === undefined) {
        for (let at = from; at < from + chunk; at += size) {
          this.#parts.push(newPart(at, Math.min(from + chunk, at + size)));
        }
        this.#scheduledEnd += chunk;
        continue;
      }
      // Whole units (blocks): each part runs to the last boundary within its
      // size, and at least to the first; the chunk ends on one too.
      const chunkEnd = this.#boundaryAfter(boundary, from + chunk - 1);
      for (let at = from; at < chunkEnd;) {
        let end = this.#boundaryAfter(boundary, at);
        while (end < chunkEnd) {
          const next = this.#boundaryAfter(boundary, end);
          if (next - at > size) break;
          end = next;
        }
        this.#parts.push(newPart(at, end));
        this.#unit = Math.max(this.#unit, end - at);
        at = end;
      }
      this.#scheduledEnd = chunkEnd;
    }
  }

  /** The source's boundary after `offset`, sanitized: in (offset, end]. */
  #boundaryAfter(boundary: (offset: number) => number, offset: number): number {
    const at = boundary(offset);
    return Number.isSafeInteger(at) && at > offset ? Math.min(at, this.end) : this.end;
  }

  /** Starts queued parts, nearest first, within the request and byte caps. */
  #pump(): void {
    if (this.#closed || this.#error) return;
    const { window } = this.#window();
    const byteCap = this.#maxInFlightBytes ?? Math.max(window, MIN_CHUNK);
    const limit = this.#control.limit;
    for (const part of this.#parts) {
      if (part.start >= this.#failedAt) break;
      if (part.state !== "queued") continue;
      if (this.#inFlight >= limit) {
        // A part waits for a slot: the limit binds, so the controller may
        // learn whether more slots would pay.
        this.#control.blocked();
        break;
      }
      const size = part.end - part.start;
      if (this.#inFlight > 0 && this.#inFlightBytes + size > byteCap) break;
      this.#start(part);
    }
  }

  #start(part: Part): void {
    part.state = "running";
    const controller = new AbortController();
    // A part of a manifest spans many blocks, each read listening on this
    // signal until it settles: fan-out, not a leak, so no Node warning.
    setMaxListeners(0, controller.signal);
    part.controller = controller;
    const size = part.end - part.start;
    // Requested bytes not yet arrived count against the in-flight cap.
    let pending = size;
    const started = performance.now();
    let first = true;
    this.#inFlight++;
    this.#inFlightBytes += size;
    this.#stats.requests++;
    const arrive = (piece: Uint8Array): void => {
      // Bytes that come in after a seek dropped the part were fetched all the
      // same: amplification must count them.
      this.#stats.bytesFetched += piece.length;
      if (part.dropped || piece.length === 0) return;
      if (first) {
        first = false;
        this.#control.firstByte(performance.now() - started);
      }
      this.#control.bytes(piece.length);
      if (part.received + piece.length > part.end) {
        throw new Error(
          `Cannot read bytes ${part.start}-${part.end - 1}: the source returned more than ${size}`,
        );
      }
      part.pieces.push(piece);
      part.received += piece.length;
      const n = Math.min(pending, piece.length);
      pending -= n;
      this.#inFlightBytes -= n;
      part.notify();
    };
    const run = async (): Promise<void> => {
      const options: RangeReadOptions = {
        signal: controller.signal,
        onPushback: () => this.#control.pushback(this.#inFlight, started),
      };
      if (this.#source.stream === undefined) {
        arrive(await this.#source.read(part.start, part.end, options));
      } else {
        const reader = this.#source.stream(part.start, part.end, options).getReader();
        part.cancel = () => void reader.cancel(controller.signal.reason).catch(() => {});
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            arrive(value);
            if (part.dropped) break;
          }
        } catch (error) {
          part.cancel();
          throw error;
        }
      }
      if (!part.dropped && part.received !== part.end) {
        throw new Error(
          `Cannot read bytes ${part.start}-${part.end - 1}: the source returned ${
            part.received - part.start
          } of ${size}`,
        );
      }
    };
    run().catch((error: unknown) => {
      if (part.dropped) return;
      part.error = error;
      this.#failedAt = Math.min(this.#failedAt, part.start);
    }).finally(() => {
      part.state = "settled";
      part.controller = undefined;
      part.cancel = undefined;
      this.#inFlight--;
      this.#inFlightBytes -= pending;
      part.notify();
      this.#pump();
    });
  }

  #dropBefore(position: number): void {
    while (this.#parts.length > 0 && this.#parts[0]!.end <= position) {
      this.#drop(this.#parts.shift()!);
    }
    // Let go of the pieces already read past in the part the position is in.
    const first = this.#parts[0];
    if (first === undefined) return;
    while (first.pieces.length > 0 && first.base + first.pieces[0]!.length <= position) {
      first.base += first.pieces.shift()!.length;
    }
  }

  #drop(part: Part): void {
    part.dropped = true;
    part.pieces = [];
    // Not once every byte is in: the request is over, only its settling is not.
    if (part.state === "running" && part.received < part.end) {
      part.controller?.abort(new Error("the bytes are no longer wanted"));
      part.cancel?.();
    }
    if (part.state === "queued") part.state = "settled";
    // Wakes a read waiting on it now, not when a source that ignores the
    // signal gets round to answering.
    part.notify();
  }

  #wait(part: Part, signal: AbortSignal | undefined): Promise<void> {
    if (signal === undefined) return part.changed;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      part.changed.then(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      });
    });
  }

  #fail(error: unknown): unknown {
    this.#error ??= { error };
    return error;
  }

  #throwIfUnusable(): void {
    if (this.#closed) throw this.#closedError();
    if (this.#error) throw this.#error.error;
  }

  #closedError(): unknown {
    return this.#closed!.reason;
  }
}

/** Whether a part has its bytes up to `need`, or will get no more. */
function arrived(part: Part, need: number): boolean {
  return part.received >= need || part.state === "settled" || part.dropped;
}

function newPart(start: number, end: number): Part {
  const part: Part = {
    start,
    end,
    pieces: [],
    base: start,
    received: start,
    error: undefined,
    state: "queued",
    dropped: false,
    controller: undefined,
    cancel: undefined,
    changed: Promise.resolve(),
    notify: () => {},
  };
  const renew = (): void => {
    let resolve!: () => void;
    part.changed = new Promise<void>((r) => (resolve = r));
    part.notify = () => {
      renew();
      resolve();
    };
  };
  renew();
  return part;
}
