/**
 * Writes an object as blocks one byte range at a time, so that a transfer
 * cut short (a dropped connection, a killed process) resumes with only the
 * ranges not yet stored: `writeRanges` asks `open` for each gap between the
 * pieces already stored, pipes it through a `BlockWriteStream`, and records
 * each block as a piece (its offset in the object) the moment it is stored at
 * the wanted copies. Pieces tile the object whatever order blocks finish in.
 *
 * A range whose source fails mid-way is not thrown away: the bytes received
 * are stored (the last block short) and `RangeDropped` is thrown, so the next
 * attempt asks only for what follows them.
 *
 * @module
 */
import type { BlockPutter } from "../model/block_putter.ts";
import type { StoredPiece } from "../model/key_index.ts";
import { Manifest } from "../model/manifest.ts";
import { type BlockStored, BlockWriteStream } from "./block_write_stream.ts";

/** A range's source failed mid-way; the bytes before were stored. */
export class RangeDropped extends Error {
  constructor(cause: unknown) {
    super(`the transfer was cut short: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
  }
}

/** What {@linkcode writeRanges} needs. */
export interface RangeWriteOptions {
  /** Stores the blocks. */
  putter: BlockPutter;
  /** The object's size, once known (a source may tell it when opened). */
  size: () => number | undefined;
  /** Pieces stored already; new ones are pushed here as they are stored. */
  pieces: StoredPiece[];
  /** Opens bytes `[start, end)` of the object (`end` undefined: to its end). */
  open(start: number, end: number | undefined): Promise<ReadableStream<Uint8Array>>;
  /**
   * Told the pieces stored so far: after each of the first 64 pieces, then
   * each time another 1% of the object is stored (a second's worth, when the
   * size is unknown). Calls are serialized, and awaited before the write ends.
   */
  record(pieces: readonly StoredPiece[]): Promise<void>;
  /** Told when an open-ended range ends: the object's size. */
  ended?(size: number): void;
  /** Bytes per block. */
  blockSize: number;
  /** Blocks being stored at once. */
  blocksInFlight?: number;
  /** Replicas per block. */
  copies?: number;
  /** Skip blocks already stored (HEAD before PUT). */
  skipExisting?: boolean;
  /** Aborts the write. */
  signal?: AbortSignal;
  /** Told the bytes read from sources as they come. */
  onRead?(bytes: number): void;
  /** Told the bytes sent to the stores as they go. */
  onSent?(bytes: number): void;
}

/** The gaps between pieces: `[start, end)`, the last open-ended while the size is unknown. */
export function gapsOf(
  pieces: readonly StoredPiece[],
  size: number | undefined,
): [number, number | undefined][] {
  const gaps: [number, number | undefined][] = [];
  let cursor = 0;
  for (const piece of [...pieces].sort((a, b) => a.offset - b.offset)) {
    if (piece.offset > cursor) gaps.push([cursor, piece.offset]);
    cursor = Math.max(cursor, piece.offset + piece.size);
  }
  if (size === undefined) gaps.push([cursor, undefined]);
  else if (cursor < size) gaps.push([cursor, size]);
  return gaps;
}

/** The manifest of an object whose pieces tile it: the blocks in offset order. */
export function manifestOfPieces(name: string, pieces: readonly StoredPiece[]): Manifest {
  return Manifest.fromBlocks(
    name,
    [...pieces].sort((a, b) => a.offset - b.offset).filter((p) => p.size > 0).map((p) => p.locator),
  );
}

/**
 * Stores every gap; see the module doc.
 *
 * @throws {RangeDropped} When a source failed mid-way (what came was stored).
 */
export async function writeRanges(options: RangeWriteOptions): Promise<void> {
  let recording = Promise.resolve();
  let recordError: { error: unknown } | undefined;
  let unrecorded = 0;
  let lastRecord = 0;
  const record = (bytes: number): void => {
    unrecorded += bytes;
    // Each record rewrites the whole list: with thousands of small blocks,
    // one per block would cost O(n²). Past the first few, a record is made
    // once 1% of the object (or a second's worth, size unknown) is stored
    // unrecorded: a kill then loses at most that.
    const size = options.size();
    if (
      options.pieces.length > 64 &&
      (size === undefined
        ? performance.now() - lastRecord < 1000
        : unrecorded < Math.max(1, size / 100))
    ) return;
    unrecorded = 0;
    lastRecord = performance.now();
    const snapshot = options.pieces.slice();
    recording = recording.then(() => options.record(snapshot)).catch((error: unknown) => {
      recordError ??= { error };
    });
  };
  try {
    for (;;) {
      const gap = gapsOf(options.pieces, options.size())[0];
      if (gap === undefined) return;
      const [start, end] = gap;
      const source = await options.open(start, end);
      // Opening may have told the size (a first response's Content-Length).
      const stop = end ?? options.size();
      let dropped: { error: unknown } | undefined;
      let read = 0;
      const guarded = guard(source, stop === undefined ? undefined : stop - start, {
        onRead: (n) => {
          read += n;
          options.onRead?.(n);
        },
        onDrop: (error) => (dropped = { error }),
      });
      const sink = new BlockWriteStream(options.putter, {
        blockSize: options.blockSize,
        ...(options.blocksInFlight === undefined ? {} : { blocksInFlight: options.blocksInFlight }),
        ...(options.copies === undefined ? {} : { copies: options.copies }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        ...(options.skipExisting ? { skipExisting: true } : {}),
      });
      let sent = 0;
      sink.addEventListener("progress", (event) => {
        const now = (event as CustomEvent<{ bytesSent: number }>).detail.bytesSent;
        if (now > sent) options.onSent?.(now - sent);
        sent = Math.max(sent, now);
      });
      sink.addEventListener("block", (event) => {
        const detail = (event as CustomEvent<BlockStored>).detail;
        options.pieces.push({
          offset: start + detail.offset!,
          size: detail.size,
          locator: detail.locator,
        });
        record(detail.size);
      });
      await guarded.pipeTo(sink, options.signal === undefined ? {} : { signal: options.signal });
      await sink.result;
      await recording;
      if (recordError !== undefined) throw recordError.error;
      if (dropped !== undefined) throw new RangeDropped(dropped.error);
      if (stop === undefined) options.ended?.(start + read);
    }
  } finally {
    await recording;
  }
}

/**
 * The source's bytes, at most `length` of them; a failure, or an end before
 * `length`, ends the stream cleanly (so what came is stored) and is reported.
 * More than `length` bytes is an error: the source is not the range asked for.
 */
function guard(
  source: ReadableStream<Uint8Array>,
  length: number | undefined,
  hooks: { onRead(n: number): void; onDrop(error: unknown): void },
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let seen = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch (error) {
        hooks.onDrop(error);
        controller.close();
        return;
      }
      if (result.done) {
        if (length !== undefined && seen < length) {
          hooks.onDrop(new Error(`the body ended after ${seen} of ${length} bytes`));
        }
        controller.close();
        return;
      }
      const chunk = result.value;
      if (length !== undefined && seen + chunk.length > length) {
        const error = new RangeError(
          `the source sent more than the ${length} bytes asked for`,
        );
        controller.error(error);
        await reader.cancel(error).catch(() => {});
        return;
      }
      seen += chunk.length;
      hooks.onRead(chunk.length);
      controller.enqueue(chunk);
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}
