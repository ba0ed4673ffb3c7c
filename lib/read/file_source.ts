/**
 * `fileSource`: a {@linkcode RangeSource} over a local file, read in place
 * (no copy of the whole file) and kept open until `close()`.
 *
 * @module
 */
import { checkRange } from "../model/_range.ts";
import { fs } from "../platform/_fs.ts";
import { pieceStream } from "./_piece_stream.ts";
import type { RangeSource } from "./range_source.ts";

/**
 * A source over a local file, kept open until `close()`.
 *
 * @param path The file.
 * @returns A source.
 *
 * @example Reading the end of a file
 * ```ts
 * import { fileSource } from "stowage";
 * import assert from "node:assert/strict";
 * import { mkdtemp, writeFile } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 *
 * const path = join(await mkdtemp(join(tmpdir(), "stowage-doc-")), "hello.txt");
 * await writeFile(path, "hello world");
 * const source = await fileSource(path);
 * assert.equal(new TextDecoder().decode(await source.read(6, 11)), "world");
 * await source.close?.();
 * ```
 */
export async function fileSource(path: string): Promise<RangeSource> {
  const handle = await fs.open(path, "r");
  const { size } = await handle.stat();
  let closed = false;
  /** Fills `out` from `position`; fewer bytes only at the end of the file. */
  const readAt = async (out: Uint8Array, position: number): Promise<Uint8Array> => {
    if (closed) throw new Error(`Cannot read file '${path}': the source is closed`);
    let done = 0;
    while (done < out.length) {
      const { bytesRead } = await handle.read(out, done, out.length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done === out.length ? out : out.subarray(0, done);
  };
  return {
    size,
    read(start, end, options = {}) {
      options.signal?.throwIfAborted();
      checkRange(start, end, size);
      return readAt(new Uint8Array(end - start), start);
    },
    stream(start, end, options = {}) {
      checkRange(start, end, size);
      let at = start;
      return pieceStream({
        async next() {
          if (at >= end) return undefined;
          const piece = await readAt(new Uint8Array(Math.min(PIECE_SIZE, end - at)), at);
          at += piece.length;
          // Empty: the file has shrunk, and the reader's length check says so.
          return piece.length > 0 ? piece : undefined;
        },
        release: () => Promise.resolve(),
      }, options.signal);
    },
    async close() {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}

/** Bytes per piece when a file range is streamed. */
const PIECE_SIZE = 1024 * 1024;
