/**
 * Stowage stores byte streams as content-addressed blocks and streams them
 * back, on Web Streams, in Deno and Node alike. Bytes are cut into blocks (64
 * MiB by default), each named by its digest and size (a _locator_), and a
 * {@linkcode Manifest} in Arvados Keep's text format lists the blocks of each
 * file.
 *
 * One pipeline per direction, both on {@linkcode BlockClient}:
 * `client.writable()` is the `WritableStream` that cuts, hashes and stores
 * blocks on one store or replicated over several; `client.readable(manifest)`
 * is the `ReadableStream` that reads them back through a prefetcher and a
 * block cache. Other entry points: `stowage/s3` (S3 buckets as stores),
 * `stowage/server` (the Keep-compatible block server), `stowage/crawl` (the
 * store walker).
 *
 * @example A round trip through a store
 * ```ts
 * import { BlockClient, MemoryStore } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const client = new BlockClient({ services: [new MemoryStore()] });
 * const sink = client.writable({ name: "hello.txt" });
 * await ReadableStream.from([new TextEncoder().encode("hello")]).pipeTo(sink);
 * const { manifest } = await sink.result;
 * assert.equal(manifest.toText(), ". 5d41402abc4b2a76b9719d911017c592+5 0:5:hello.txt\n");
 * assert.equal(await new Response(client.readable(manifest)).text(), "hello");
 * ```
 *
 * @module
 */

// The model: errors, digests, locators, manifests, the store contracts.
export {
  AuthError,
  BlockCorruptError,
  BlockNotFoundError,
  BlockReadError,
  ChecksumMismatchError,
  DeadlineError,
  InsufficientReplicasError,
  KeyCollisionError,
  KeyNotFoundError,
  LocatorError,
  ManifestError,
  RangeNotSupportedError,
  ServiceError,
  type ServiceOutcome,
  SourceChangedError,
  StoreError,
  StoreFullError,
  StowageError,
} from "./lib/model/errors.ts";
export { createHasher, digest, type DigestAlgorithm, type Hasher } from "./lib/model/digest.ts";
export {
  formatLocator,
  isEmptyBlock,
  type Locator,
  locatorOf,
  type LocatorPermission,
  parseLocator,
} from "./lib/model/locator.ts";
export {
  Manifest,
  type ManifestFile,
  type ManifestJSON,
  type ManifestOptions,
  type Segment,
} from "./lib/model/manifest.ts";
export {
  type BlockInfo,
  type BlockStore,
  type ByteRange,
  DEFAULT_BLOCK_SIZE,
  type GetOptions,
  type ListOptions,
  type PutOptions,
  type PutResult,
} from "./lib/model/block_store.ts";
export type {
  BlockPutter,
  ReplicatedPutOptions,
  ReplicatedPutResult,
} from "./lib/model/block_putter.ts";
export type { RetryOptions } from "./lib/model/retry.ts";

// Stores.
export { MemoryStore, type MemoryStoreOptions } from "./lib/store/memory_store.ts";
export { defaultStoreDir, FileStore, type FileStoreOptions } from "./lib/store/file_store.ts";
export type { ChunkEntry, ChunkIndex, ChunkLocation } from "./lib/model/chunk_index.ts";
export { MemoryChunkIndex } from "./lib/store/memory_chunk_index.ts";
export { FileChunkIndex, type FileChunkIndexOptions } from "./lib/store/file_chunk_index.ts";
export type {
  KeyEntry,
  KeyIndex,
  KeyValidators,
  PartialTransfer,
  StoredPiece,
} from "./lib/model/key_index.ts";
export { MemoryKeyIndex } from "./lib/store/memory_key_index.ts";
export { FileKeyIndex, type KeyIndexOptions } from "./lib/store/file_key_index.ts";
export {
  KeepService,
  type KeepServiceOptions,
  type ServiceTimeouts,
} from "./lib/store/keep_service.ts";
export { storeFromUrl, type StoreFromUrlOptions } from "./lib/store/store_from_url.ts";

// The write side.
export { FixedChunkStream, type FixedChunkStreamOptions } from "./lib/write/fixed_chunk_stream.ts";
export {
  type ChunkSizes,
  ContentChunkStream,
  type ContentChunkStreamOptions,
  DEFAULT_CHUNK_SIZES,
} from "./lib/write/content_chunk_stream.ts";
export {
  type BlockStored,
  BlockWriteStream,
  type BlockWriteStreamOptions,
  type WriteEventListener,
  type WriteProgress,
  type WriteResult,
} from "./lib/write/block_write_stream.ts";

// The read side.
export type { RangeReadOptions, RangeSource } from "./lib/read/range_source.ts";
export { bytesSource } from "./lib/read/bytes_source.ts";
export { fileSource } from "./lib/read/file_source.ts";
export { type HttpSource, httpSource, type HttpSourceOptions } from "./lib/read/http_source.ts";
export type { ConcurrencyChange, ReadOptions, ReadStats } from "./lib/read/read_options.ts";
export { openReader, type Reader } from "./lib/read/open_reader.ts";
export { openReadable, type ReadableOptions } from "./lib/read/open_readable.ts";
export {
  BlockCache,
  type BlockCacheOptions,
  type BlockCacheStats,
  type DiskCacheOptions,
} from "./lib/read/block_cache.ts";

// The client: both pipelines over one store or many.
export {
  BlockClient,
  type BlockClientOptions,
  type BlockClientStats,
  type RetryEvent,
} from "./lib/client/block_client.ts";
export {
  stage,
  type StageClient,
  type StageOptions,
  type StageProgress,
  type StageResult,
} from "./lib/client/stage.ts";
