/**
 * The stream behind every `RangeSource.stream()` of the package: pieces pulled
 * one at a time, on demand, with the contract's abort and release rules kept
 * in one place. Private to the package.
 *
 * @example
 * ```ts
 * import { pieceStream } from "./_piece_stream.ts";
 *
 * const blob = new Blob(["hello"]);
 * const reader = blob.stream().getReader();
 * const stream = pieceStream({
 *   next: async () => (await reader.read()).value,
 *   release: () => reader.cancel().catch(() => {}),
 * });
 * ```
 *
 * @module
 */

/** Where a {@linkcode pieceStream} takes its pieces from. */
export interface PieceSource {
  /** The next piece, or `undefined` at the end. */
  next(): Promise<Uint8Array | undefined>;
  /**
   * Lets go of what the source holds (a response body, a reader). Called on
   * cancel, abort and error, possibly more than once; must not reject.
   */
  release(): Promise<void>;
}

/**
 * A stream of `source`'s pieces, read only when asked for (no read-ahead).
 * `signal` is checked before each piece as well, because a body that has all
 * arrived no longer hears it (Deno), and a Blob's stream never does.
 *
 * @param source The pieces.
 * @param signal Ends the stream with its reason.
 * @returns The stream.
 */
export function pieceStream(
  source: PieceSource,
  signal?: AbortSignal,
): ReadableStream<Uint8Array> {
  let cancelled = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (signal?.aborted) {
        await source.release();
        throw signal.reason;
      }
      let piece: Uint8Array | undefined;
      try {
        piece = await source.next();
      } catch (error) {
        // An erroring stream never calls cancel(): release here.
        await source.release();
        throw error;
      }
      // Cancelled while the piece was on its way (a request being opened,
      // say): let go of what that call took hold of.
      if (cancelled) return await source.release();
      if (piece === undefined) controller.close();
      else controller.enqueue(piece);
    },
    async cancel() {
      cancelled = true;
      await source.release();
    },
  }, { highWaterMark: 0 });
}
