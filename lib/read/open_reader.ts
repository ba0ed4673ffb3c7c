/**
 * `openReader`: a seekable reader over any {@linkcode RangeSource}, with
 * adaptive prefetch (see the read-path notes in docs/architecture.md).
 *
 * @example Reading a remote file's header, then its tail
 * ```ts ignore
 * import { httpSource, openReader } from "stowage";
 *
 * await using reader = openReader(await httpSource("https://example.com/data.bin"));
 * const magic = await reader.read(4);
 * const tail = await reader.readAt(reader.size - 1024, 1024);
 * console.log(reader.stats); // requests, amplification, seeks, waiting time
 * ```
 *
 * @module
 */
import { Prefetcher } from "./_prefetcher.ts";
import type { RangeSource } from "./range_source.ts";
import type { ReadOptions, ReadStats } from "./read_options.ts";

/** A seekable reader; see {@linkcode openReader}. */
export interface Reader {
  /** Reads up to `n` bytes at the position (exactly `n` before the end); `null` at the end. */
  read(n: number): Promise<Uint8Array | null>;
  /** Seeks, then reads. */
  readAt(position: number, n: number): Promise<Uint8Array | null>;
  /** Moves the position (soft inside the prefetch window, hard elsewhere). */
  seek(position: number): void;
  /** The next byte read. */
  readonly position: number;
  /** Bytes in the view (`end - start`). */
  readonly size: number;
  /** Requests, bytes asked and fetched, seeks, waiting time. */
  readonly stats: ReadStats;
  /** Aborts every request in flight and settles every read. */
  close(): Promise<void>;
  /** `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Opens a reader over a source.
 *
 * @param source The bytes.
 * @param options View (`start`, `end`), `maxRangeRequests`, `maxPrefetch`, `maxInFlightBytes`, `signal`.
 * @returns The reader.
 */
export function openReader(source: RangeSource, options: ReadOptions = {}): Reader {
  const engine = new Prefetcher(source, options);
  const signal = options.signal;
  // A failing source close must not surface as an unhandled rejection.
  const onAbort = (): void => void engine.close(signal!.reason).catch(() => {});
  if (signal?.aborted) onAbort();
  signal?.addEventListener("abort", onAbort, { once: true });
  const close = async (): Promise<void> => {
    signal?.removeEventListener("abort", onAbort);
    await engine.close();
  };
  return {
    read: (n) => engine.read(n),
    readAt: (position, n) => {
      engine.seek(position);
      return engine.read(n);
    },
    seek: (position) => engine.seek(position),
    get position() {
      return engine.position;
    },
    size: engine.end - engine.start,
    get stats() {
      return engine.stats;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
