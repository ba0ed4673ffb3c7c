/**
 * `BlockWriteStream`: the write side of Stowage. A `WritableStream<Uint8Array>`
 * that cuts the bytes written to it into blocks, hashes each, and stores it
 * replicated through a `BlockClient`, several blocks in parallel.
 *
 * - Backpressure: `write()` resolves only once a block can start uploading
 *   (fewer than `blocksInFlight` in flight), so memory stays about
 *   `(blocksInFlight + 1) × blockSize` whatever the stream's length: block
 *   buffers are reused once stored, never allocated afresh.
 * - Hashing: blocks of 1 MiB or more are hashed on the process's hashing
 *   threads (one per core), several at once and beside the uploads; each
 *   block's buffer is handed to its thread and back, never copied. The one
 *   copy of each byte is the cut from the written chunks into a block.
 * - `result` resolves, after `close()`, with the manifest; it rejects with the
 *   cause when the stream is aborted (`signal`, `writer.abort()`) or a block
 *   fails for good, and every PUT in flight is cancelled first.
 * - It is an `EventTarget`: `progress` events carry a {@linkcode WriteProgress}.
 *
 * @module
 */
import { setMaxListeners } from "node:events";
import PQueue from "npm:p-queue@^9.0.0";
import type {
  BlockPutter,
  ReplicatedPutOptions,
  ReplicatedPutResult,
} from "../model/block_putter.ts";
import { DEFAULT_BLOCK_SIZE } from "../model/block_store.ts";
import { formatLocator } from "../model/locator.ts";
import { Manifest, type Segment } from "../model/manifest.ts";
import { BufferPool } from "../platform/_buffer_pool.ts";
import { Chunker } from "../platform/_chunker.ts";
import { hashBlock } from "../platform/_hash_pool.ts";
import { yieldToEventLoop } from "../platform/_yield.ts";
import { ContentPacker } from "./_content_packer.ts";
import type { ChunkSizes } from "./_fastcdc.ts";

/** Options for {@linkcode BlockWriteStream} (`BlockClient.writable`). */
export interface BlockWriteStreamOptions {
  /** Bytes per block, at most 64 MiB (Keep's limit). @default {67108864} (64 MiB) */
  blockSize?: number;
  /** Replicas per block. @default {the client's copies} */
  copies?: number;
  /** Storage classes. @default {the client's classes} */
  classes?: readonly string[];
  /** Blocks being stored at once (each may have several PUTs in flight). @default {4} */
  blocksInFlight?: number;
  /** Aborts the upload: PUTs in flight are cancelled and `result` rejects with the reason. */
  signal?: AbortSignal;
  /** Skip blocks that HEAD finds on `copies` services already. @default {false} */
  skipExisting?: boolean;
  /** The file's name in the manifest. @default {"stream"} */
  name?: string;
  /**
   * How the stream is cut. `"fixed"`: into blocks of `blockSize`, the same
   * locators `arv-put` gives. `"content"`: into content-defined chunks
   * (FastCDC), each stored once (repeats within the write, and chunks the
   * client's chunk index knows, are not stored again), the new ones packed
   * into blocks of up to `blockSize`; the manifest lists the file as segments
   * of those blocks. @default {"fixed"}
   */
  chunking?: "fixed" | "content";
  /** Chunk sizes for `chunking: "content"`. @default {{ min: 16384, avg: 65536, max: 262144 }} */
  chunkSize?: ChunkSizes;
}

/**
 * A listener for the stream's `progress` events: the DOM's
 * `EventListenerOrEventListenerObject`, spelled out so that the published
 * types need no DOM library (a Node project with `@types/node` only).
 */
export type WriteEventListener = ((event: Event) => void) | { handleEvent(event: Event): void };

/** What a finished {@linkcode BlockWriteStream} stored. */
export interface WriteResult {
  /** A one-file manifest of the stream (locators signed when services sign them). */
  manifest: Manifest;
  /** Bytes written. */
  bytes: number;
  /** Blocks stored. */
  blocks: number;
  /** Replicas confirmed, per block, in order. */
  replicas: number[];
  /** Bytes this write stored in new blocks (not reused, nor found stored). */
  bytesStored: number;
  /** Chunks cut (`chunking: "content"`), or blocks (fixed). */
  chunks: number;
  /** Chunks found stored already, so not stored again (`chunking: "content"`). */
  chunksReused: number;
}

/** Progress figures, carried by `progress` events. */
export interface WriteProgress {
  /** Bytes written into the stream. */
  bytesReceived: number;
  /** Bytes hashed into blocks. */
  bytesHashed: number;
  /**
   * Bytes sent to the services (or written to disk) so far, counting each
   * block's furthest replica: moves as requests go, not a block at a time.
   */
  bytesSent: number;
  /** Bytes whose blocks are stored (or were found stored). */
  bytesUploaded: number;
  /** Blocks stored. */
  blocksDone: number;
  /** Blocks skipped because they were already stored (`skipExisting`). */
  blocksSkipped: number;
  /** Replicas confirmed, summed over blocks. */
  replicasConfirmed: number;
  /** Chunks found stored already (`chunking: "content"`). */
  chunksReused: number;
  /** Bytes of those chunks. */
  bytesReused: number;
}

/** A block stored, carried by `block` events, in the order blocks are stored (not cut). */
export interface BlockStored {
  /** The block's place in the write, from 0. */
  index: number;
  /** Its locator, with hints (a signature) when a service gave them. */
  locator: string;
  /** Its size. */
  size: number;
  /** Replicas confirmed (or found, when skipped). */
  replicas: number;
  /**
   * Where its bytes begin in the stream (`chunking: "fixed"`); `undefined` for
   * content-chunked writes, whose blocks pack chunks from anywhere.
   */
  offset: number | undefined;
}

/**
 * See the module doc.
 *
 * @example Storing a stream in a store, in 4-byte blocks
 * ```ts
 * import { BlockClient, MemoryStore } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const client = new BlockClient({ services: [new MemoryStore()] });
 * const sink = client.writable({ blockSize: 4, name: "hello.txt" });
 * await ReadableStream.from([new TextEncoder().encode("hello world")]).pipeTo(sink);
 * const { manifest, blocks } = await sink.result;
 * assert.equal(blocks, 3);
 * assert.equal(await new Response(client.readable(manifest)).text(), "hello world");
 * ```
 */
export class BlockWriteStream extends WritableStream<Uint8Array> implements EventTarget {
  /** Resolves after `close()` with what was stored; rejects on abort or failure. */
  readonly result: Promise<WriteResult>;
  #events: EventTarget;
  #state: WriteState;

  /**
   * Creates a {@linkcode BlockWriteStream}.
   *
   * @param client What stores the blocks: a `BlockClient`.
   * @param options Block size, copies, classes, blocks in flight, signal, skipExisting, name.
   * @throws {RangeError} On a bad block size or blocks in flight.
   */
  constructor(client: BlockPutter, options: BlockWriteStreamOptions = {}) {
    const events = new EventTarget();
    const state = new WriteState(client, options, events);
    super(
      {
        start: (controller) => state.start(controller),
        write: (chunk) => state.write(chunk),
        close: () => state.close(),
        abort: (reason) => state.abort(reason),
      },
      { highWaterMark: 1 },
    );
    this.#events = events;
    this.#state = state;
    this.result = state.result;
  }

  /** The figures so far. */
  get progress(): Readonly<WriteProgress> {
    return { ...this.#state.progress };
  }

  /**
   * Listens for `progress` events, whose `detail` is a {@linkcode WriteProgress},
   * and `block` events, whose `detail` is a {@linkcode BlockStored} (one per
   * block, once it is stored at the wanted copies: what a resumable transfer
   * records).
   *
   * @param type The event type, `"progress"` or `"block"`.
   * @param listener The listener.
   * @param options Listener options.
   */
  addEventListener(
    type: string,
    listener: WriteEventListener | null,
    options?: boolean | {
      capture?: boolean;
      once?: boolean;
      passive?: boolean;
      signal?: AbortSignal;
    },
  ): void {
    this.#events.addEventListener(type, listener, options);
  }

  /**
   * Stops listening.
   *
   * @param type The event type.
   * @param listener The listener.
   * @param options Listener options.
   */
  removeEventListener(
    type: string,
    listener: WriteEventListener | null,
    options?: boolean | { capture?: boolean },
  ): void {
    this.#events.removeEventListener(type, listener, options);
  }

  /**
   * Dispatches an event to the listeners.
   *
   * @param event The event.
   * @returns `false` when a listener cancelled it.
   */
  dispatchEvent(event: Event): boolean {
    return this.#events.dispatchEvent(event);
  }
}

/** The sink's state, built before `super()` so the sink callbacks can reach it. */
class WriteState {
  readonly result: Promise<WriteResult>;
  readonly progress: WriteProgress = {
    bytesReceived: 0,
    bytesHashed: 0,
    bytesSent: 0,
    bytesUploaded: 0,
    blocksDone: 0,
    blocksSkipped: 0,
    replicasConfirmed: 0,
    chunksReused: 0,
    bytesReused: 0,
  };
  #client: BlockPutter;
  #events: EventTarget;
  #blockSize: number;

  #copies: number;
  #options: BlockWriteStreamOptions;
  #queue: PQueue;
  #abort = new AbortController();
  #controller: WritableStreamDefaultController | undefined;
  #chunker: Chunker;
  #packer: ContentPacker | undefined;
  #bytesStored = 0;
  #bytesCut = 0;
  #buffers: BufferPool;
  #blocks: { locator: string; replicas: number }[] = [];
  #tasks = new Set<Promise<void>>();
  #failure: { error: unknown } | undefined;
  #resolve!: (result: WriteResult) => void;
  #reject!: (error: unknown) => void;
  #onSignal = (): void => this.#fail(this.#options.signal!.reason);

  constructor(client: BlockPutter, options: BlockWriteStreamOptions, events: EventTarget) {
    this.#client = client;
    this.#events = events;
    this.#options = options;
    this.#blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
    if (
      !Number.isSafeInteger(this.#blockSize) || this.#blockSize <= 0 ||
      this.#blockSize > DEFAULT_BLOCK_SIZE
    ) {
      throw new RangeError(
        `Cannot construct BlockWriteStream as blockSize must be an integer from 1 to ${DEFAULT_BLOCK_SIZE} (64 MiB, Keep's limit): current value is ${this.#blockSize}`,
      );
    }
    const blocksInFlight = options.blocksInFlight ?? 4;
    if (!Number.isSafeInteger(blocksInFlight) || blocksInFlight <= 0) {
      throw new RangeError(
        `Cannot construct BlockWriteStream as blocksInFlight must be a positive integer: current value is ${blocksInFlight}`,
      );
    }
    this.#buffers = new BufferPool({ blockSize: this.#blockSize });
    this.#chunker = new Chunker(this.#blockSize, { allocate: (n) => this.#buffers.take(n) });
    // Every PUT in flight listens on this signal (blocks in flight × copies ×
    // a listener or two) and lets go when done: not a leak, so no Node warning.
    setMaxListeners(0, this.#abort.signal);
    this.#copies = options.copies ?? client.copies;
    const chunking = options.chunking ?? "fixed";
    if (chunking === "content") {
      const index = client.chunkIndex;
      const copies = this.#copies;
      this.#packer = new ContentPacker({
        blockSize: this.#blockSize,
        ...(options.chunkSize === undefined ? {} : { sizes: options.chunkSize }),
        ...(index === undefined ? {} : { index }),
        exists: async (locator) =>
          (await client.replicas(locator, { signal: this.#abort.signal, enough: copies })) >=
            copies,
        submit: (pack) => this.#submit(pack),
        take: (n) => this.#buffers.take(n),
      });
    } else if (chunking !== "fixed") {
      throw new TypeError(
        `Cannot construct BlockWriteStream: chunking must be 'fixed' or 'content', received '${
          String(chunking)
        }'`,
      );
    }
    this.#queue = new PQueue({ concurrency: blocksInFlight });
    this.result = new Promise<WriteResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // A caller who never looks at `result` must not get an unhandled rejection.
    this.result.catch(() => {});
  }

  start(controller: WritableStreamDefaultController): void {
    this.#controller = controller;
    // An abort that comes while close() waits for the last PUTs reaches the
    // sink only through this signal (abort() itself runs after close settles):
    // the PUTs in flight are cancelled then too.
    controller.signal?.addEventListener("abort", () => this.#fail(controller.signal.reason, true), {
      once: true,
    });
    const signal = this.#options.signal;
    if (signal !== undefined) {
      if (signal.aborted) this.#fail(signal.reason);
      else signal.addEventListener("abort", this.#onSignal, { once: true });
    }
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.#throwIfFailed();
    if (!(chunk instanceof Uint8Array)) {
      const error = new TypeError("Cannot write to BlockWriteStream: expected a Uint8Array chunk");
      this.#fail(error);
      throw error;
    }
    this.progress.bytesReceived += chunk.length;
    if (this.#packer !== undefined) await this.#packer.push(chunk);
    else for (const block of this.#chunker.push(chunk)) await this.#submit(block);
    // Let uploads in flight make progress between chunks (see _yield.ts).
    if (this.#queue.pending > 0) await yieldToEventLoop();
  }

  async close(): Promise<void> {
    try {
      this.#throwIfFailed();
      if (this.#packer !== undefined) await this.#packer.finish();
      else {
        const tail = this.#chunker.flush();
        if (tail !== undefined) await this.#submit(tail);
      }
      await Promise.all([...this.#tasks]);
      this.#throwIfFailed();
      this.#buffers.clear();
      const name = this.#options.name ?? "stream";
      const packer = this.#packer;
      const manifest = packer === undefined
        ? Manifest.fromBlocks(name, this.#blocks.map((b) => b.locator))
        : this.#manifestOf(name, packer);
      this.#detach();
      this.#emit();
      this.#resolve({
        manifest,
        bytes: this.progress.bytesReceived,
        blocks: this.#blocks.length,
        replicas: this.#blocks.map((b) => b.replicas),
        bytesStored: this.#bytesStored,
        chunks: packer?.stats.chunks ?? this.#blocks.length,
        chunksReused: packer?.stats.chunksReused ?? 0,
      });
    } catch (error) {
      this.#fail(error);
      throw this.#failure!.error;
    }
  }

  async abort(reason: unknown): Promise<void> {
    this.#fail(reason, true);
    await Promise.allSettled([...this.#tasks]);
  }

  /** Hashes a block: big ones on the hashing threads (main thread keeps cutting), small ones here. */
  #hash(block: Uint8Array): Promise<{ bytes: Uint8Array; locator: string }> {
    // The block's buffer is the stream's own (from its pool): it can be transferred.
    return hashBlock(block, this.#client.algorithm, { transfer: true }).then(({ bytes, hex }) => ({
      bytes,
      locator: formatLocator({ digest: hex, size: bytes.length }),
    }));
  }

  /** A content-chunked write's manifest: the file as segments of new and stored blocks. */
  #manifestOf(name: string, packer: ContentPacker): Manifest {
    const segments: Segment[] = packer.segments().map((s) => ({
      locator: typeof s.block === "number" ? this.#blocks[s.block]!.locator : s.block,
      offset: s.offset,
      length: s.length,
    }));
    const size = segments.reduce((sum, s) => sum + s.length, 0);
    return new Manifest([{ name, size, segments }]);
  }

  /** Starts storing a block; resolves with its index once it has a slot (backpressure). */
  async #submit(block: Uint8Array): Promise<number> {
    const index = this.#blocks.length;
    const size = block.length;
    const offset = this.#packer === undefined ? this.#bytesCut : undefined;
    this.#bytesCut += size;
    this.#blocks.push({ locator: "", replicas: 0 });
    this.#throwIfFailed();
    // Hashing starts now and runs beside the uploads; the block's task waits for it.
    const hashed = this.#hash(block).then((result) => {
      this.#blocks[index]!.locator = result.locator;
      this.progress.bytesHashed += size;
      this.#emit();
      return result;
    });
    hashed.catch(() => {});
    const signal = this.#abort.signal;
    // No `signal` for p-queue: it would settle a running task at the abort,
    // before its PUTs have let go of their requests. The PUTs see the signal.
    const task = this.#queue.add(async () => {
      signal.throwIfAborted();
      const { bytes, locator } = await hashed;
      let stored: ReplicatedPutResult | undefined;
      if (this.#options.skipExisting) {
        const found = await this.#client.replicas(locator, { signal, enough: this.#copies });
        if (found >= this.#copies) {
          stored = { locator, replicas: found, classes: {}, overReplicated: 0 };
          this.progress.blocksSkipped++;
        }
      }
      let sent = 0;
      const onProgress = (now: number): void => {
        if (now <= sent) return;
        this.progress.bytesSent += now - sent;
        sent = now;
        this.#emit();
      };
      if (stored === undefined) {
        stored = await this.#client.put(bytes, {
          ...this.#putOptions(locator, signal),
          onProgress,
        });
        this.#bytesStored += size;
      }
      onProgress(size);
      // Stored: no one reads the buffer any more, and the next block may use it.
      this.#buffers.give(bytes);
      this.#blocks[index] = { locator: stored.locator, replicas: stored.replicas };
      const chunkIndex = this.#client.chunkIndex;
      if (this.#packer !== undefined && chunkIndex !== undefined) {
        // Only now, with the block stored at the wanted copies, may the index point at it.
        await chunkIndex.add(this.#packer.entriesOf(index, locator));
      }
      this.progress.bytesUploaded += size;
      this.progress.blocksDone++;
      this.progress.replicasConfirmed += stored.replicas;
      const detail: BlockStored = {
        index,
        locator: stored.locator,
        size,
        replicas: stored.replicas,
        offset,
      };
      this.#events.dispatchEvent(new CustomEvent("block", { detail }));
      this.#emit();
    }).catch((error: unknown) => this.#fail(error));
    const tracked: Promise<void> = task.finally(() => this.#tasks.delete(tracked));
    this.#tasks.add(tracked);
    // Backpressure: return (and accept more bytes) only once this block has a slot.
    await this.#queue.onSizeLessThan(1);
    this.#throwIfFailed();
    return index;
  }

  #putOptions(locator: string, signal: AbortSignal): ReplicatedPutOptions {
    const options: ReplicatedPutOptions = { expect: locator, signal, copies: this.#copies };
    if (this.#options.classes !== undefined) options.classes = this.#options.classes;
    return options;
  }

  #emit(): void {
    if (this.#packer !== undefined) {
      this.progress.chunksReused = this.#packer.stats.chunksReused;
      this.progress.bytesReused = this.#packer.stats.bytesReused;
    }
    this.#events.dispatchEvent(new CustomEvent("progress", { detail: { ...this.progress } }));
  }

  /**
   * Fails the write: cancels every PUT, settles `result`. `streamErroring`
   * when the stream itself is being aborted: erroring it again then is not
   * allowed (Node asserts).
   */
  #fail(error: unknown, streamErroring = false): void {
    if (this.#failure !== undefined) return;
    this.#failure = { error };
    this.#chunker.flush();
    this.#abort.abort(error);
    this.#detach();
    if (!streamErroring) this.#controller?.error(error);
    // `result` settles only once every PUT has seen the abort and let go of its
    // request, so a caller that awaits it finds nothing still in flight.
    void Promise.allSettled([...this.#tasks]).then(() => this.#reject(error));
  }

  #detach(): void {
    this.#options.signal?.removeEventListener("abort", this.#onSignal);
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure.error;
  }
}
