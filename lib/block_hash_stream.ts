/**
 * Turns a stream of blocks (as cut by {@linkcode FixedChunkStream}) into
 * `{ locator, bytes }` pairs, hashing each block with MD5 (default) or SHA-256.
 *
 * @example Hashing blocks
 * ```ts
 * import { BlockHashStream, FixedChunkStream } from "stowage";
 *
 * const blocks = await Array.fromAsync(
 *   ReadableStream.from([new TextEncoder().encode("foobar")])
 *     .pipeThrough(new FixedChunkStream(3))
 *     .pipeThrough(new BlockHashStream()),
 * );
 * console.assert(blocks[0]!.locator === "acbd18db4cc2f85cedef654fccc4a4d8+3");
 * ```
 *
 * @module
 */
import { assertAlgorithm, digest, type DigestAlgorithm } from "./digest.ts";

/** A block and its locator (`<digest>+<size>`). */
export interface Block {
  /** `<digest>+<size>`, no hints. */
  readonly locator: string;
  /** The block's bytes. */
  readonly bytes: Uint8Array;
}

/** Options for {@linkcode BlockHashStream}. */
export interface BlockHashStreamOptions {
  /** Digest algorithm. @default {"md5"} */
  digest?: DigestAlgorithm;
}

/** A `TransformStream` from block bytes to {@linkcode Block}s; see the module doc. */
export class BlockHashStream extends TransformStream<Uint8Array, Block> {
  /**
   * @param options The digest algorithm.
   * @throws {TypeError} On an unknown algorithm.
   */
  constructor(options: BlockHashStreamOptions = {}) {
    const algorithm = options.digest ?? "md5";
    assertAlgorithm(algorithm);
    super(
      {
        transform(bytes, controller) {
          controller.enqueue({ locator: `${digest(bytes, algorithm)}+${bytes.length}`, bytes });
        },
      },
      { highWaterMark: 1 },
      { highWaterMark: 0 },
    );
  }
}
