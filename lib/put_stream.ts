/**
 * `putStream`: the first, sequential write pipeline. Cuts a byte stream into
 * blocks, hashes them and stores each in one {@linkcode BlockStore}, returning a
 * one-file {@linkcode Manifest}. Memory stays about two blocks whatever the
 * stream's length: the stream is pulled only as fast as blocks are stored.
 *
 * @example Storing a fetch body
 * ```ts ignore
 * import { FileStore, putStream } from "stowage";
 *
 * const response = await fetch("https://example.com/data.bin");
 * const { manifest } = await putStream(new FileStore(), response.body!, { name: "data.bin" });
 * console.log(manifest.toText());
 * ```
 *
 * @module
 */
import { type BlockStore, DEFAULT_BLOCK_SIZE } from "./block_store.ts";
import { assertAlgorithm, type DigestAlgorithm } from "./digest.ts";
import { FixedChunkStream } from "./fixed_chunk_stream.ts";
import { Manifest } from "./manifest.ts";

/** Options for {@linkcode putStream}. */
export interface PutStreamOptions {
  /** Bytes per block. @default {67108864} (64 MiB) */
  blockSize?: number;
  /** Digest algorithm. @default {"md5"} */
  digest?: DigestAlgorithm;
  /** The file's name in the manifest. @default {"stream"} */
  name?: string;
  /** Aborts the upload: the source is cancelled and the promise rejects with the reason. */
  signal?: AbortSignal;
  /** Called after each block is stored. */
  onBlock?: (info: { locator: string; bytes: number; blocks: number }) => void;
}

/** What {@linkcode putStream} stored. */
export interface PutStreamResult {
  /** A one-file manifest of the stream. */
  manifest: Manifest;
  /** Bytes stored. */
  bytes: number;
  /** Blocks stored. */
  blocks: number;
}

/**
 * Stores a byte stream as blocks in a store.
 *
 * @param store Where blocks go.
 * @param source The bytes.
 * @param options Block size, digest, name, signal, progress callback.
 * @returns The manifest and counts.
 */
export async function putStream(
  store: BlockStore,
  source: ReadableStream<Uint8Array>,
  options: PutStreamOptions = {},
): Promise<PutStreamResult> {
  const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
  const algorithm = options.digest ?? "md5";
  assertAlgorithm(algorithm);
  const chunker = new FixedChunkStream(blockSize);
  const locators: string[] = [];
  let bytes = 0;
  const signal = options.signal;
  // The store hashes each block as it stores it; a separate hashing stage would
  // hash twice and queue one more block between stages. Memory is the block
  // being stored plus the one filling.
  const sink = new WritableStream<Uint8Array>(
    {
      async write(block) {
        const { locator } = await store.put(
          block,
          signal === undefined ? { digest: algorithm } : { digest: algorithm, signal },
        );
        locators.push(locator);
        bytes += block.length;
        options.onBlock?.({ locator, bytes, blocks: locators.length });
      },
    },
    { highWaterMark: 1 },
  );
  await source
    .pipeThrough(chunker, signal === undefined ? {} : { signal })
    .pipeTo(sink, signal === undefined ? {} : { signal });
  return {
    manifest: Manifest.fromBlocks(options.name ?? "stream", locators),
    bytes,
    blocks: locators.length,
  };
}
