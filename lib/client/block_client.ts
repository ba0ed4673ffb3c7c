/**
 * `BlockClient`: replicated block storage over several block services —
 * Arvados's parallel write strategy, on any mix of {@linkcode KeepService}s,
 * {@linkcode FileStore}s and other {@linkcode BlockStore}s.
 *
 * A put orders the writable services by rendezvous weight and writes `copies`
 * replicas: in parallel when every service is a `"disk"` service, one at a time
 * (trusting `X-Keep-Replicas-Stored`) when any is a `"proxy"`. A failure moves
 * on to the next service; rounds with jittered exponential backoff retry what is
 * retryable and remember the replicas already stored. Storage classes are
 * tracked from `X-Keep-Storage-Classes-Confirmed`. A get tries services in the
 * same order, verifying every block's digest.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { homedir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import PQueue from "npm:p-queue@^9.0.0";
import type {
  BlockPutter,
  ReplicatedPutOptions,
  ReplicatedPutResult,
} from "../model/block_putter.ts";
import type { BlockStore, GetOptions } from "../model/block_store.ts";
import type { ChunkIndex } from "../model/chunk_index.ts";
import { assertAlgorithm, type DigestAlgorithm } from "../model/digest.ts";
import {
  AuthError,
  BlockCorruptError,
  BlockNotFoundError,
  BlockReadError,
  InsufficientReplicasError,
  ServiceError,
  type ServiceOutcome,
  StoreError,
  StoreFullError,
} from "../model/errors.ts";
import { formatLocator, isEmptyBlock, type Locator, toLocator } from "../model/locator.ts";
import type { Manifest } from "../model/manifest.ts";
import {
  backoffDelay,
  type RetryOptions,
  type RetryPolicy,
  retryPolicy,
  sleep,
} from "../model/retry.ts";
import { checkRange } from "../model/_range.ts";
import { hashBlock } from "../platform/_hash_pool.ts";
import { newRequestId } from "../platform/_request_id.ts";
import type { ServiceTimeouts } from "../store/keep_service.ts";
import { storeFromUrl } from "../store/store_from_url.ts";
import { BlockCache } from "../read/block_cache.ts";
import { manifestSource } from "../read/manifest_source.ts";
import { openReadable, type ReadableOptions } from "../read/open_readable.ts";
import { openReader, type Reader } from "../read/open_reader.ts";
import type { ReadOptions } from "../read/read_options.ts";
import { BlockWriteStream, type BlockWriteStreamOptions } from "../write/block_write_stream.ts";
import { rendezvousOrder } from "./rendezvous.ts";
import { FileChunkIndex } from "../store/file_chunk_index.ts";
import { FileKeyIndex } from "../store/file_key_index.ts";
import { MemoryKeyIndex } from "../store/memory_key_index.ts";
import type { KeyIndex } from "../model/key_index.ts";
import { stage, type StageOptions, type StageResult } from "./stage.ts";
import { FileStore } from "../store/file_store.ts";
import { MemoryChunkIndex } from "../store/memory_chunk_index.ts";
import { MemoryStore } from "../store/memory_store.ts";
import { S3Store } from "../store/s3_store.ts";

/** Options for {@linkcode BlockClient}. */
export interface BlockClientOptions {
  /**
   * The block services: `BlockStore`s, or strings — `http(s)://…` becomes a
   * {@linkcode KeepService}, `s3://bucket/prefix?endpoint=…&region=…` an
   * {@linkcode S3Store} (credentials from `AWS_ACCESS_KEY_ID` and friends),
   * anything else a {@linkcode FileStore} path.
   */
  services: readonly (BlockStore | string)[];
  /**
   * Replicas per block; more than the writable services is refused up front
   * (unless a service is a proxy, which fans out itself).
   * @default {2, or 1 with a single writable service that is not a proxy}
   */
  copies?: number;
  /** Storage classes each block must reach. @default {[]} */
  classes?: readonly string[];
  /** The digest algorithm new blocks are named with. @default {"md5"} */
  algorithm?: DigestAlgorithm;
  /** Retry rounds and backoff. */
  retry?: RetryOptions;
  /** PUT requests in flight at most, across the client and all its writes. @default {Infinity} */
  maxPutRequests?: number;
  /** Token for services given as URLs. */
  token?: string;
  /** fetch for services given as URLs. */
  fetch?: typeof fetch;
  /** Deadlines for services given as URLs. */
  timeouts?: ServiceTimeouts;
  /**
   * Told before each retry round of a put or a get: what is retried, when,
   * and what every service said (the CLI prints it as one line).
   */
  onRetry?: (event: RetryEvent) => void;
  /** Where warnings go (said once each). @default {console.warn} */
  onWarning?: (message: string) => void;
  /** The block cache for reads, or `false` for none. @default {a 256 MiB RAM cache} */
  cache?: BlockCache | false;
  /**
   * Block GETs in flight at most for {@linkcode BlockClient.prefetch}, across
   * the client. (Manifest reads fetch ahead through the read path's own
   * requests, whose number the read options set.) @default {2}
   */
  maxPrefetchRequests?: number;
  /**
   * Where content-chunked writes (`writable({ chunking: "content" })`) find
   * chunks stored before, or `false` for none (only repeats within a write
   * are stored once). @default {a lone FileStore's own `<root>/chunks`; a
   * lone S3Store's `<prefix>/chunks/` in its bucket; for MemoryStores, one in
   * memory; for other services, a folder under `$XDG_CACHE_HOME/stowage/chunks`
   * (else `~/.cache/…`) named by the services}
   */
  chunkIndex?: ChunkIndex | false;
  /**
   * Where {@linkcode BlockClient.stage} records what it fetched, and resumes
   * from, or `false` for none. @default {a lone FileStore's own `<root>/keys`;
   * a lone S3Store's `<prefix>/keys/` in its bucket; for MemoryStores, one in
   * memory; for other services (block servers, which have no place for
   * keys), a folder under `$XDG_CACHE_HOME/stowage/keys` (else
   * `~/.cache/…`) named by the services}
   */
  keyIndex?: KeyIndex | false;
}

export type { ReplicatedPutOptions, ReplicatedPutResult };

/** A retry round about to start; see {@linkcode BlockClientOptions.onRetry}. */
export interface RetryEvent {
  /** What is retried. */
  operation: "put" | "get";
  /** The block. */
  locator: string;
  /** The round about to start (2 is the first retry). */
  round: number;
  /** Rounds in all. */
  rounds: number;
  /** The wait before it, ms. */
  delay: number;
  /** What each service said last. */
  services: readonly ServiceOutcome[];
}

/** Counters a client keeps. */
export interface BlockClientStats {
  /** Blocks put. */
  puts: number;
  /** Replicas stored beyond those wanted, summed. */
  overReplicated: number;
  /** PUT requests made (all services, all rounds). */
  putRequests: number;
  /** Corrupt replicas skipped on read. */
  corruptReplicas: number;
}

/** A service with what the client needs to know about it. */
interface Service {
  readonly store: BlockStore;
  readonly id: string;
  readonly type: "disk" | "proxy";
  readonly readOnly: boolean;
}

/**
 * Replicated block storage; see the module doc.
 *
 * @example Two copies over three stores, read back through the cache
 * ```ts
 * import { BlockClient, MemoryStore } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const stores = ["a", "b", "c"].map((id) => new MemoryStore({ id }));
 * const client = new BlockClient({ services: stores, copies: 2 });
 * const { locator, replicas } = await client.put(new TextEncoder().encode("foo"));
 * assert.equal(locator, "acbd18db4cc2f85cedef654fccc4a4d8+3");
 * assert.equal(replicas, 2);
 * assert.equal(new TextDecoder().decode(await client.get(locator)), "foo");
 * ```
 */
export class BlockClient implements BlockPutter {
  /** The services, in the order given. */
  readonly services: readonly BlockStore[];
  /** Default replicas per block. */
  readonly copies: number;
  /** Default storage classes. */
  readonly classes: readonly string[];
  /** The digest algorithm new blocks are named with. */
  readonly algorithm: DigestAlgorithm;
  #services: Service[];
  #retry: RetryPolicy;
  #uploads: PQueue;
  #warn: (message: string) => void;
  #onRetry: ((event: RetryEvent) => void) | undefined;
  #warned = new Set<string>();
  #stats: BlockClientStats = { puts: 0, overReplicated: 0, putRequests: 0, corruptReplicas: 0 };
  /** The read cache, if any. */
  readonly cache: BlockCache | undefined;
  #prefetchQueue: PQueue;
  #chunkIndex: ChunkIndex | false | undefined;
  #keyIndex: KeyIndex | false | undefined;

  /**
   * Creates a {@linkcode BlockClient}.
   *
   * @param options Services, copies, classes, digest, retry, limits.
   * @throws {TypeError} On a bad service or option type.
   * @throws {RangeError} On out-of-range copies or limits.
   */
  constructor(options: BlockClientOptions) {
    if (options === null || typeof options !== "object" || !Array.isArray(options.services)) {
      throw new TypeError("Cannot construct BlockClient: options.services must be an array");
    }
    this.#services = options.services.map((s) => describeService(s, options));
    const writable = this.#services.filter((s) => !s.readOnly);
    const ids = new Set<string>();
    for (const s of this.#services) {
      if (ids.has(s.id)) {
        throw new TypeError(`Cannot construct BlockClient: service id '${s.id}' appears twice`);
      }
      ids.add(s.id);
    }
    this.services = this.#services.map((s) => s.store);
    const anyProxy = writable.some((s) => s.type === "proxy");
    this.copies = checkCopies(
      options.copies ?? (anyProxy ? 2 : Math.min(2, Math.max(1, writable.length))),
    );
    // Refused before any upload; a client with no writable service only reads
    // (its puts fail saying so).
    if (writable.length > 0 && this.copies > writable.length && !anyProxy) {
      throw new RangeError(
        `Cannot construct BlockClient as copies must be <= the ${writable.length} writable service(s): current value is ${this.copies}`,
      );
    }
    this.classes = [...(options.classes ?? [])];
    this.algorithm = options.algorithm ?? "md5";
    assertAlgorithm(this.algorithm);
    this.#retry = retryPolicy(options.retry);
    const maxPutRequests = options.maxPutRequests ?? Infinity;
    if (!(maxPutRequests >= 1)) {
      throw new RangeError(
        `Cannot construct BlockClient as maxPutRequests must be >= 1: current value is ${maxPutRequests}`,
      );
    }
    this.#uploads = new PQueue({ concurrency: maxPutRequests });
    this.#warn = options.onWarning ?? ((message) => console.warn(`stowage: ${message}`));
    this.#onRetry = options.onRetry;
    this.cache = options.cache === false ? undefined : options.cache ?? new BlockCache();
    this.#prefetchQueue = new PQueue({ concurrency: options.maxPrefetchRequests ?? 2 });
    this.#chunkIndex = options.chunkIndex;
    this.#keyIndex = options.keyIndex;
  }

  /**
   * The key index {@linkcode BlockClient.stage} uses (see
   * {@linkcode BlockClientOptions.keyIndex}), made on first use.
   */
  get keyIndex(): KeyIndex | undefined {
    if (this.#keyIndex === undefined) this.#keyIndex = defaultKeyIndex(this.#services);
    return this.#keyIndex === false ? undefined : this.#keyIndex;
  }

  /**
   * The chunk index content-chunked writes use (see
   * {@linkcode BlockClientOptions.chunkIndex}), made on first use.
   */
  get chunkIndex(): ChunkIndex | undefined {
    if (this.#chunkIndex === undefined) this.#chunkIndex = defaultChunkIndex(this.#services);
    return this.#chunkIndex === false ? undefined : this.#chunkIndex;
  }

  /** Counters since the client was made. */
  get stats(): Readonly<BlockClientStats> {
    return { ...this.#stats };
  }

  /**
   * Stores a block on `copies` services.
   *
   * @param bytes The block.
   * @param options Copies, classes, signal, the expected locator, request id.
   * @returns The locator and what was confirmed.
   * @throws {InsufficientReplicasError} When too few replicas could be stored.
   */
  async put(bytes: Uint8Array, options: ReplicatedPutOptions = {}): Promise<ReplicatedPutResult> {
    if (!(bytes instanceof Uint8Array)) {
      throw new TypeError("Cannot put block: expected a Uint8Array");
    }
    const copies = checkCopies(options.copies ?? this.copies);
    const wantedClasses = [...(options.classes ?? this.classes)];
    const signal = options.signal;
    signal?.throwIfAborted();
    const locator = options.expect !== undefined
      ? toLocator(options.expect).stripped
      : await this.#locatorOf(bytes);
    if (toLocator(locator).size !== bytes.length) {
      throw new RangeError(
        `Cannot put block: locator '${locator}' does not match ${bytes.length} bytes`,
      );
    }
    const algorithm = toLocator(locator).algorithm;
    if (copies === 0 || isEmptyBlock(locator)) {
      return { locator, replicas: copies, classes: {}, overReplicated: 0 };
    }
    const requestId = options.requestId ?? newRequestId();
    let furthest = 0;
    const progress = options.onProgress === undefined ? undefined : (sent: number): void => {
      if (sent <= furthest) return;
      furthest = sent;
      options.onProgress!(sent);
    };
    const writable = this.#services.filter((s) => !s.readOnly);
    const order = rendezvousOrder(locator.split("+")[0]!, writable);
    const anyProxy = writable.some((s) => s.type === "proxy");
    const state = new Map<string, "ok" | "permanent" | "retry">();
    const outcomes = new Map<string, ServiceOutcome>();
    const classDone: Record<string, number> = {};
    let trackClasses = wantedClasses.length > 0;
    let done = 0;
    let signedLocator = locator;
    let rounds = 0;
    const pendingClasses = () =>
      trackClasses ? wantedClasses.filter((c) => (classDone[c] ?? 0) < copies) : [];
    const satisfied = () => done >= copies && pendingClasses().length === 0;

    for (let round = 0; round < this.#retry.rounds && !satisfied(); round++) {
      if (round > 0) {
        const delay = backoffDelay(this.#retry, round);
        this.#onRetry?.({
          operation: "put",
          locator,
          round: round + 1,
          rounds: this.#retry.rounds,
          delay,
          services: [...outcomes.values()],
        });
        await sleep(delay, signal);
      }
      const candidates = order.filter((s) =>
        state.get(s.id) !== "ok" && state.get(s.id) !== "permanent"
      );
      if (candidates.length === 0) break;
      rounds++;
      const inflight = new Set<Promise<void>>();
      let next = 0;
      // Arvados's ticket rule: start a PUT only while replicas (or classes)
      // are still owed beyond those already in flight; disk services take
      // `copies` at once, a proxy one at a time.
      const parallel = anyProxy ? 1 : copies;
      const owed = () => Math.max(copies - done, pendingClasses().length);
      for (;;) {
        while (inflight.size < parallel && inflight.size < owed() && next < candidates.length) {
          const service = candidates[next++]!;
          const classes = pendingClasses();
          const task: Promise<void> = this.#putOne(service, bytes, {
            locator,
            algorithm,
            copies: Math.max(1, copies - done),
            classes: classes.length > 0 ? classes : wantedClasses,
            requestId,
            signal,
            progress,
          }).then(
            (result) => {
              progress?.(bytes.length);
              state.set(service.id, "ok");
              outcomes.set(service.id, {
                service: service.id,
                status: 200,
                replicas: result.replicas,
              });
              done += result.replicas;
              if (
                result.locator.startsWith(locator) && result.locator.length > signedLocator.length
              ) {
                signedLocator = result.locator;
              }
              if (trackClasses && result.classes === undefined) {
                trackClasses = false;
                this.#warnOnce(
                  "classes",
                  `service '${service.id}' does not confirm storage classes; counting copies only`,
                );
              }
              for (const [name, n] of Object.entries(result.classes ?? {})) {
                classDone[name] = (classDone[name] ?? 0) + n;
              }
            },
            (error: unknown) => {
              if (signal?.aborted) return;
              const retryable = isRetryable(error);
              state.set(service.id, retryable ? "retry" : "permanent");
              const outcome: ServiceOutcome = { service: service.id, error: errorText(error) };
              const status = (error as { status?: unknown }).status;
              if (typeof status === "number") outcome.status = status;
              outcomes.set(service.id, outcome);
            },
          ).finally(() => inflight.delete(task));
          inflight.add(task);
        }
        if (inflight.size === 0) break;
        await Promise.race(inflight);
        // An abort cancels the PUTs in flight; wait for them before leaving.
        if (signal?.aborted) {
          await Promise.allSettled([...inflight]);
          throw signal.reason;
        }
      }
      signal?.throwIfAborted();
      if (order.every((s) => state.get(s.id) === "ok" || state.get(s.id) === "permanent")) break;
    }
    if (!satisfied()) {
      throw new InsufficientReplicasError({
        locator,
        wanted: copies,
        achieved: done,
        classesWanted: wantedClasses,
        classesAchieved: { ...classDone },
        services: order.map((s) => outcomes.get(s.id) ?? { service: s.id, error: "not tried" }),
        rounds,
      });
    }
    const overReplicated = Math.max(0, done - copies);
    this.#stats.puts++;
    this.#stats.overReplicated += overReplicated;
    return { locator: signedLocator, replicas: done, classes: { ...classDone }, overReplicated };
  }

  /** Hashes a block to its locator: a big one on the hashing threads, beside other work. */
  async #locatorOf(bytes: Uint8Array): Promise<string> {
    // The caller's buffer is theirs: copied into the thread's scratch, not transferred.
    const { hex } = await hashBlock(bytes, this.algorithm, { transfer: false });
    return formatLocator({ digest: hex, size: bytes.length });
  }

  async #putOne(
    service: Service,
    bytes: Uint8Array,
    options: {
      locator: string;
      algorithm: DigestAlgorithm;
      copies: number;
      classes: readonly string[];
      requestId: string;
      signal: AbortSignal | undefined;
      progress: ((sent: number) => void) | undefined;
    },
  ) {
    return await this.#uploads.add(async () => {
      options.signal?.throwIfAborted();
      this.#stats.putRequests++;
      const putOptions: Parameters<BlockStore["put"]>[1] = {
        expect: options.locator,
        verified: true,
        algorithm: options.algorithm,
        copies: options.copies,
        classes: options.classes,
        requestId: options.requestId,
      };
      if (options.signal !== undefined) putOptions.signal = options.signal;
      if (options.progress !== undefined) putOptions.onProgress = options.progress;
      return await service.store.put(bytes, putOptions);
    });
  }

  /**
   * Counts the services that report having a block (HEAD), in rendezvous order.
   *
   * @param locator The block.
   * @param options Signal; `enough` stops counting once that many are found.
   * @returns The number of services that have it.
   */
  async replicas(
    locator: string | Locator,
    options: { signal?: AbortSignal; enough?: number } = {},
  ): Promise<number> {
    const loc = toLocator(locator);
    if (isEmptyBlock(loc)) return this.#services.length;
    let found = 0;
    for (const service of rendezvousOrder(loc.digest, this.#services)) {
      try {
        if (await service.store.has(locator, options.signal ? { signal: options.signal } : {})) {
          found++;
        }
      } catch {
        // A service that cannot answer counts as not having it.
        if (options.signal?.aborted) throw options.signal.reason;
      }
      if (options.enough !== undefined && found >= options.enough) break;
    }
    return found;
  }

  /**
   * Reads a block from the first service (in rendezvous order) that has an
   * intact copy; corrupt replicas are skipped and counted.
   *
   * @param locator The block.
   * @param options Signal and range.
   * @returns The bytes.
   * @throws {BlockNotFoundError} When every service answered 403, 404 or 410.
   * @throws {BlockReadError} When services failed otherwise; it lists each cause.
   */
  async get(locator: string | Locator, options: GetOptions = {}): Promise<Uint8Array> {
    const loc = toLocator(locator);
    options.signal?.throwIfAborted();
    if (isEmptyBlock(loc)) return new Uint8Array(0);
    const cache = this.cache;
    if (cache !== undefined) {
      // The cache holds whole blocks: a range is cut from the cached block.
      const used = options.range === undefined
        ? loc.size
        : (options.range.end ?? loc.size) - options.range.start;
      const onPushback = options.onPushback;
      const bytes = await cache.get(
        loc,
        // A shared fetch tells the reader that started it of pushbacks.
        (signal) => this.#fetch(locator, onPushback ? { signal, onPushback } : { signal }),
        options.signal ? { signal: options.signal, bytes: used } : { bytes: used },
      );
      if (options.range === undefined) return bytes;
      const start = options.range.start;
      const end = options.range.end ?? loc.size;
      checkRange(start, end, loc.size, `block '${loc.stripped}'`);
      return bytes.subarray(start, end);
    }
    return await this.#fetch(locator, options);
  }

  /**
   * Queues blocks to be fetched into the cache ahead of need (p-queue, a few at
   * a time), skipping those cached or in flight. Needs a cache.
   *
   * @param locators The blocks, in the order they will be wanted.
   */
  prefetch(locators: readonly string[]): void {
    const cache = this.cache;
    if (cache === undefined) return;
    for (const locator of locators) {
      if (isEmptyBlock(locator) || cache.holds(locator)) continue;
      this.#prefetchQueue.add(async () => {
        if (cache.holds(locator)) return;
        await cache.get(locator, (signal) => this.#fetch(locator, { signal }), { prefetch: true });
      }).catch(() => {});
    }
  }

  /**
   * A byte stream of a manifest's bytes (one file, or all in order), through
   * the read-path prefetcher: its requests are whole blocks, as many ahead as
   * its concurrency controller finds pay (`maxRangeRequests` at most), each
   * through the block cache. Ready to be a `Response` body.
   *
   * @param manifest The manifest.
   * @param options `file`, `start`, `end`, and the read-path options.
   * @returns The stream.
   * @throws {RangeError} When the file is not in the manifest.
   */
  readable(
    manifest: Manifest,
    options: ReadableOptions & { file?: string } = {},
  ): ReadableStream<Uint8Array> {
    return openReadable(this.#source(manifest, options.file), withoutFile(options));
  }

  /**
   * A seekable reader over a manifest's bytes; see {@linkcode readable}.
   *
   * @param manifest The manifest.
   * @param options `file`, view and read-path options.
   * @returns The reader.
   * @throws {RangeError} When the file is not in the manifest.
   */
  open(manifest: Manifest, options: ReadOptions & { file?: string } = {}): Reader {
    return openReader(this.#source(manifest, options.file), withoutFile(options));
  }

  #source(manifest: Manifest, file: string | undefined) {
    return manifestSource(this, manifest, file === undefined ? {} : { file });
  }

  async #fetch(locator: string | Locator, options: GetOptions = {}): Promise<Uint8Array> {
    const loc = toLocator(locator);
    const order = rendezvousOrder(loc.digest, this.#services);
    const outcomes = new Map<string, ServiceOutcome & { notFound: boolean; retry: boolean }>();
    for (let round = 0; round < this.#retry.rounds; round++) {
      const candidates = round === 0 ? order : order.filter((s) => outcomes.get(s.id)?.retry);
      if (candidates.length === 0) break;
      if (round > 0) {
        const delay = backoffDelay(this.#retry, round);
        this.#onRetry?.({
          operation: "get",
          locator: loc.stripped,
          round: round + 1,
          rounds: this.#retry.rounds,
          delay,
          services: [...outcomes.values()].map(({ service, status, error }) =>
            status === undefined ? { service, error: error! } : { service, status, error: error! }
          ),
        });
        await sleep(delay, options.signal);
      }
      for (const service of candidates) {
        try {
          return await service.store.get(locator, options);
        } catch (error) {
          if (options.signal?.aborted) throw options.signal.reason;
          if (error instanceof RangeError || error instanceof TypeError) throw error;
          const status = (error as { status?: unknown }).status;
          // Keep answers 403 for a block it will not show; a refused S3 signature is not that.
          const notFound = error instanceof BlockNotFoundError ||
            (typeof status === "number" && [403, 404, 410].includes(status) &&
              !(error instanceof AuthError));
          if (error instanceof BlockCorruptError) this.#stats.corruptReplicas++;
          const outcome = {
            service: service.id,
            error: errorText(error),
            notFound,
            // Corrupt bytes may be a transient fault on the way (a bad NIC, a
            // flaky proxy): that replica is asked again in a later round,
            // within the retry budget, like any other transient failure.
            retry: !notFound && (error instanceof BlockCorruptError || isRetryable(error)),
          } as ServiceOutcome & { notFound: boolean; retry: boolean };
          if (typeof status === "number") outcome.status = status;
          if ((status === 503 || status === 429) && round + 1 < this.#retry.rounds) {
            options.onPushback?.();
          }
          outcomes.set(service.id, outcome);
        }
      }
    }
    const all = order.map((s) => outcomes.get(s.id)!);
    if (all.every((o) => o.notFound)) {
      throw new BlockNotFoundError(loc.stripped, `any of ${order.length} service(s)`);
    }
    throw new BlockReadError(
      loc.stripped,
      all.map((
        { service, status, error },
      ) => (status === undefined
        ? { service, error: error! }
        : { service, status, error: error! })
      ),
    );
  }

  /**
   * A sink that cuts a byte stream into blocks and stores them replicated;
   * see {@linkcode BlockWriteStream}.
   *
   * @param options Block size, copies, classes, blocks in flight, signal, skipExisting, name.
   * @returns The stream; its `result` gives the manifest.
   */
  writable(options: BlockWriteStreamOptions = {}): BlockWriteStream {
    return new BlockWriteStream(this, options);
  }

  /**
   * Stores a URL's body once and records it under the URL in the key index:
   * a second stage of an unchanged URL moves no body, and an interrupted one
   * resumes; see {@linkcode stage}.
   *
   * @param url An `http:` or `https:` URL (userinfo is used as credentials, never recorded).
   * @param options Headers, signal, refresh, offline, netrc, block size.
   * @returns The manifest, the key, and what moved.
   */
  stage(url: string | URL, options: StageOptions = {}): Promise<StageResult> {
    return stage(this, url, options);
  }

  #warnOnce(key: string, message: string): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#warn(message);
  }
}

function describeService(
  service: BlockStore | string,
  options: BlockClientOptions,
): Service {
  if (typeof service === "string") {
    const remote: Parameters<typeof storeFromUrl>[1] = {};
    if (options.token !== undefined) remote.token = options.token;
    if (options.fetch !== undefined) remote.fetch = options.fetch;
    if (options.timeouts !== undefined) remote.timeouts = options.timeouts;
    service = storeFromUrl(service, remote);
  }
  if (
    service === null || typeof service !== "object" || typeof service.put !== "function" ||
    typeof service.id !== "string"
  ) {
    throw new TypeError("Cannot use service: expected a BlockStore or a URL or path string");
  }
  const described = service as BlockStore & { type?: unknown; readOnly?: unknown };
  return {
    store: service,
    id: service.id,
    type: described.type === "proxy" ? "proxy" : "disk",
    readOnly: described.readOnly === true,
  };
}

function withoutFile<T extends { file?: string }>(options: T): Omit<T, "file"> {
  const { file: _file, ...rest } = options;
  return rest;
}

function checkCopies(copies: number): number {
  if (!Number.isSafeInteger(copies) || copies < 0) {
    throw new RangeError(`Cannot use copies ${copies}: expected an integer >= 0`);
  }
  return copies;
}

/** Whether a failed put or get at one service is worth another try there. */
function isRetryable(error: unknown): boolean {
  if (error instanceof ServiceError || error instanceof StoreError) return error.retryable;
  if (error instanceof StoreFullError || error instanceof BlockCorruptError) return false;
  if (error instanceof BlockNotFoundError) return false;
  // Network errors, local I/O failures and unknown errors: try again later.
  return true;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The chunk index a client uses unless told: a lone FileStore's own folder,
 * a lone S3Store's bucket, memory for MemoryStores, else a local folder named
 * by the services.
 */
function defaultKeyIndex(services: readonly Service[]): KeyIndex {
  const writable = services.filter((s) => !s.readOnly).map((s) => s.store);
  if (writable.length > 0 && writable.every((s) => s instanceof MemoryStore)) {
    return new MemoryKeyIndex();
  }
  if (writable.length === 1 && writable[0] instanceof FileStore) {
    return new FileKeyIndex(join(writable[0].root, "keys"));
  }
  if (writable.length === 1 && writable[0] instanceof S3Store) return writable[0].keyIndex();
  return new FileKeyIndex(join(localCacheDir(), "keys", servicesName(writable)));
}

/** A short name for a set of services: a folder name for what is kept about them locally. */
function servicesName(stores: readonly BlockStore[]): string {
  const ids = stores.map((s) => s.id).sort().join("\n");
  return createHash("sha256").update(ids).digest("hex").slice(0, 16);
}

/** `$XDG_CACHE_HOME/stowage`, else `~/.cache/stowage`. */
function localCacheDir(): string {
  let cache: string;
  try {
    cache = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  } catch {
    // No permission to read the environment (Deno without --allow-env).
    cache = join(homedir(), ".cache");
  }
  return join(cache, "stowage");
}

function defaultChunkIndex(services: readonly Service[]): ChunkIndex {
  const writable = services.filter((s) => !s.readOnly).map((s) => s.store);
  if (writable.length > 0 && writable.every((s) => s instanceof MemoryStore)) {
    return new MemoryChunkIndex();
  }
  if (writable.length === 1 && writable[0] instanceof FileStore) {
    return new FileChunkIndex(join(writable[0].root, "chunks"));
  }
  if (writable.length === 1 && writable[0] instanceof S3Store) return writable[0].chunkIndex();
  return new FileChunkIndex(join(localCacheDir(), "chunks", servicesName(writable)));
}
