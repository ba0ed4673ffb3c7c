/**
 * `getStream`: streams a manifest's bytes back from a {@linkcode BlockStore},
 * one block at a time, fetched only when the consumer pulls. Cancelling the
 * stream aborts the block read in flight.
 *
 * @example Serving a stored file over HTTP
 * ```ts ignore
 * import { FileStore, getStream, Manifest } from "stowage";
 *
 * const manifest = Manifest.parse(await Deno.readTextFile("data.manifest"));
 * Deno.serve(() => new Response(getStream(new FileStore(), manifest)));
 * ```
 *
 * @module
 */
import type { BlockStore } from "./block_store.ts";

/** Anything blocks can be read from: a {@linkcode BlockStore}, or a `BlockClient`. */
export type BlockSource = Pick<BlockStore, "get">;
import { type Manifest, sliceSegments } from "./manifest.ts";
import { parseLocator } from "./locator.ts";

/** Options for {@linkcode getStream}. */
export interface GetStreamOptions {
  /** Streams only this file. @default {every file, in order} */
  file?: string;
  /** First byte. @default {0} */
  start?: number;
  /** One past the last byte. @default {the size} */
  end?: number;
  /** Aborts the stream. */
  signal?: AbortSignal;
}

/**
 * Streams the bytes a manifest describes.
 *
 * @param store Where the blocks are: a store, or a `BlockClient` reading from several.
 * @param manifest The manifest.
 * @param options File, range and signal.
 * @returns A byte stream.
 * @throws {RangeError} When the file is unknown or the range does not fit.
 */
export function getStream(
  store: BlockSource,
  manifest: Manifest,
  options: GetStreamOptions = {},
): ReadableStream<Uint8Array> {
  const segments = manifest.segments(options.file);
  const size = segments.reduce((n, s) => n + s.length, 0);
  const start = options.start ?? 0;
  const end = options.end ?? size;
  if (
    !Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start ||
    end > size
  ) {
    throw new RangeError(`Cannot stream range [${start}, ${end}): the content has ${size} bytes`);
  }
  const queue = sliceSegments(segments, start, end).filter((s) => s.length > 0);
  const controller = new AbortController();
  const signal = controller.signal;
  let index = 0;
  const onAbort = (): void => controller.abort(options.signal?.reason);
  return new ReadableStream<Uint8Array>(
    {
      start(stream) {
        if (options.signal === undefined) return;
        // An abort while nobody is pulling must still error the stream.
        options.signal.addEventListener("abort", onAbort, { once: true });
        controller.signal.addEventListener("abort", () => {
          options.signal?.removeEventListener("abort", onAbort);
          stream.error(controller.signal.reason);
        }, { once: true });
        if (options.signal.aborted) onAbort();
      },
      async pull(stream) {
        const segment = queue[index++];
        if (segment === undefined) {
          options.signal?.removeEventListener("abort", onAbort);
          stream.close();
          return;
        }
        const whole = segment.offset === 0 && segment.length === parseLocator(segment.locator).size;
        const bytes = await store.get(
          segment.locator,
          whole ? { signal } : {
            signal,
            range: { start: segment.offset, end: segment.offset + segment.length },
          },
        );
        stream.enqueue(bytes);
        if (index === queue.length) {
          options.signal?.removeEventListener("abort", onAbort);
          stream.close();
        }
      },
      cancel(reason) {
        controller.abort(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
