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
 * @example Two copies over three block servers
 * ```ts ignore
 * import { BlockClient } from "stowage";
 *
 * const client = new BlockClient({
 *   services: ["http://10.0.0.1:25107", "http://10.0.0.2:25107", "http://10.0.0.3:25107"],
 *   copies: 2,
 *   token: "s3cret",
 * });
 * const { locator, replicas } = await client.put(new TextEncoder().encode("foo"));
 * const bytes = await client.get(locator);
 * ```
 *
 * @module
 */
import PQueue from "p-queue";
import type { BlockStore, GetOptions } from "./block_store.ts";
import { assertAlgorithm, digest, type DigestAlgorithm } from "./digest.ts";
import {
  AuthError,
  BlockCorruptError,
  BlockNotFoundError,
  BlockReadError,
  InsufficientReplicasError,
  ServiceError,
  type ServiceOutcome,
  StoreFullError,
} from "./errors.ts";
import { FileStore } from "./file_store.ts";
import { S3Store } from "./s3_store.ts";
import { KeepService, type ServiceTimeouts } from "./keep_service.ts";
import { isEmptyBlock, type Locator, toLocator } from "./locator.ts";
import { rendezvousOrder } from "./rendezvous.ts";
import { backoffDelay, type RetryOptions, type RetryPolicy, retryPolicy, sleep } from "./retry.ts";
import { BlockWriteStream, type BlockWriteStreamOptions } from "./block_write_stream.ts";
import { newRequestId } from "./_request_id.ts";
import { BlockCache } from "./block_cache.ts";
import type { Manifest } from "./manifest.ts";
import { manifestSource, type RangeSource } from "./range_source.ts";
import { openReadable, type ReadableOptions } from "./open_readable.ts";
import { openReader, type Reader, type ReadOptions } from "./open_reader.ts";

/** Options for {@linkcode BlockClient}. */
export interface BlockClientOptions {
  /**
   * The block services: `BlockStore`s, or strings — `http(s)://…` becomes a
   * {@linkcode KeepService}, `s3://bucket/prefix?endpoint=…&region=…` an
   * {@linkcode S3Store} (credentials from `AWS_ACCESS_KEY_ID` and friends),
   * anything else a {@linkcode FileStore} path.
   */
  services: readonly (BlockStore | string)[];
  /** Replicas per block. @default {2} */
  copies?: number;
  /** Storage classes each block must reach. @default {[]} */
  classes?: readonly string[];
  /** Digest for new blocks. @default {"md5"} */
  digest?: DigestAlgorithm;
  /** Retry rounds and backoff. */
  retry?: RetryOptions;
  /** Most PUT requests in flight across the client. @default {Infinity} */
  uploadConcurrency?: number;
  /** Token for services given as URLs. */
  token?: string;
  /** fetch for services given as URLs. */
  fetch?: typeof fetch;
  /** Deadlines for services given as URLs. */
  timeouts?: ServiceTimeouts;
  /** Where warnings go (said once each). @default {console.warn} */
  onWarning?: (message: string) => void;
  /** The block cache for reads, or `false` for none. @default {a 256 MiB RAM cache} */
  cache?: BlockCache | false;
  /** Blocks fetched ahead at once by manifest reads. @default {2} */
  prefetchConcurrency?: number;
  /** How many blocks ahead a manifest read prefetches. @default {2} */
  prefetchBlocks?: number;
}

/** Options for {@linkcode BlockClient.put}. */
export interface ReplicatedPutOptions {
  /** Replicas wanted. @default {the client's copies} */
  copies?: number;
  /** Storage classes wanted. @default {the client's classes} */
  classes?: readonly string[];
  /** Cancels every request in flight; the put rejects with the reason. */
  signal?: AbortSignal;
  /** The block's locator when the caller has already hashed it (skips hashing). */
  locator?: string;
  /** `X-Request-Id` for every PUT of this block. @default {a fresh id} */
  requestId?: string;
}

/** What a replicated put achieved. */
export interface ReplicatedPutResult {
  /** The locator, with hints (a signature) when a service gave them. */
  locator: string;
  /** Replicas confirmed. */
  replicas: number;
  /** Replicas confirmed per storage class (empty when not tracked). */
  classes: Record<string, number>;
  /** Replicas stored beyond those wanted (a proxy storing more, a timed-out PUT that landed). */
  overReplicated: number;
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

/** Replicated block storage; see the module doc. */
export class BlockClient {
  /** The services, in the order given. */
  readonly services: readonly BlockStore[];
  /** Default replicas per block. */
  readonly copies: number;
  /** Default storage classes. */
  readonly classes: readonly string[];
  /** Digest for new blocks. */
  readonly digest: DigestAlgorithm;
  #services: Service[];
  #retry: RetryPolicy;
  #uploads: PQueue;
  #warn: (message: string) => void;
  #warned = new Set<string>();
  #stats: BlockClientStats = { puts: 0, overReplicated: 0, putRequests: 0, corruptReplicas: 0 };
  /** The read cache, if any. */
  readonly cache: BlockCache | undefined;
  #prefetchQueue: PQueue;
  #prefetchBlocks: number;

  /**
   * @param options Services, copies, classes, digest, retry, limits.
   * @throws {TypeError} On a bad service or option type.
   * @throws {RangeError} On out-of-range copies or limits.
   */
  constructor(options: BlockClientOptions) {
    if (options === null || typeof options !== "object" || !Array.isArray(options.services)) {
      throw new TypeError("Cannot construct BlockClient: options.services must be an array");
    }
    this.#services = options.services.map((s) => describeService(s, options));
    const ids = new Set<string>();
    for (const s of this.#services) {
      if (ids.has(s.id)) {
        throw new TypeError(`Cannot construct BlockClient: service id '${s.id}' appears twice`);
      }
      ids.add(s.id);
    }
    this.services = this.#services.map((s) => s.store);
    this.copies = checkCopies(options.copies ?? 2);
    this.classes = [...(options.classes ?? [])];
    this.digest = options.digest ?? "md5";
    assertAlgorithm(this.digest);
    this.#retry = retryPolicy(options.retry);
    const concurrency = options.uploadConcurrency ?? Infinity;
    if (!(concurrency >= 1)) {
      throw new RangeError(
        `Cannot construct BlockClient as uploadConcurrency must be >= 1: current value is ${concurrency}`,
      );
    }
    this.#uploads = new PQueue({ concurrency });
    this.#warn = options.onWarning ?? ((message) => console.warn(`stowage: ${message}`));
    this.cache = options.cache === false ? undefined : options.cache ?? new BlockCache();
    this.#prefetchQueue = new PQueue({ concurrency: options.prefetchConcurrency ?? 2 });
    this.#prefetchBlocks = options.prefetchBlocks ?? 2;
  }

  /** Counters since the client was made. */
  get stats(): Readonly<BlockClientStats> {
    return { ...this.#stats };
  }

  /**
   * Stores a block on `copies` services.
   *
   * @param bytes The block.
   * @param options Copies, classes, signal, a precomputed locator, request id.
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
    const locator = options.locator !== undefined
      ? toLocator(options.locator).stripped
      : `${digest(bytes, this.digest)}+${bytes.length}`;
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
      if (round > 0) await sleep(backoffDelay(this.#retry, round), signal);
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
          }).then(
            (result) => {
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
    },
  ) {
    return await this.#uploads.add(async () => {
      options.signal?.throwIfAborted();
      this.#stats.putRequests++;
      const putOptions: Parameters<BlockStore["put"]>[1] = {
        expect: options.locator,
        verified: true,
        digest: options.algorithm,
        copies: options.copies,
        classes: options.classes,
        requestId: options.requestId,
      };
      if (options.signal !== undefined) putOptions.signal = options.signal;
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
      const bytes = await cache.get(
        loc,
        (signal) => this.#fetch(locator, { signal }),
        options.signal ? { signal: options.signal, bytes: used } : { bytes: used },
      );
      if (options.range === undefined) return bytes;
      const start = options.range.start;
      const end = options.range.end ?? loc.size;
      if (
        !Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start ||
        end > loc.size
      ) {
        throw new RangeError(
          `Cannot read range [${start}, ${end}) of block '${loc.stripped}': the block has ${loc.size} bytes`,
        );
      }
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
   * the read-path prefetcher with the block cache and block prefetch underneath.
   *
   * @param manifest The manifest.
   * @param options `file`, `start`, `end`, and the read-path options.
   * @returns The stream.
   */
  readable(
    manifest: Manifest,
    options: ReadableOptions & { file?: string } = {},
  ): ReadableStream<Uint8Array> {
    return openReadable(this.#manifestSource(manifest, options.file), withoutFile(options));
  }

  /**
   * A seekable reader over a manifest's bytes; see {@linkcode readable}.
   *
   * @param manifest The manifest.
   * @param options `file`, view and read-path options.
   * @returns The reader.
   */
  open(manifest: Manifest, options: ReadOptions & { file?: string } = {}): Reader {
    return openReader(this.#manifestSource(manifest, options.file), withoutFile(options));
  }

  /** A manifest source that prefetches blocks on the first read and on crossing into a new block. */
  #manifestSource(manifest: Manifest, file: string | undefined): RangeSource {
    const inner = manifestSource(this, manifest, file === undefined ? {} : { file });
    const segments = manifest.segments(file);
    const starts: number[] = [];
    let at = 0;
    for (const s of segments) {
      starts.push(at);
      at += s.length;
    }
    let lastBlock = -1;
    return {
      size: inner.size,
      read: (start, end, options) => {
        let index = 0;
        while (index + 1 < starts.length && starts[index + 1]! <= start) index++;
        if (index !== lastBlock) {
          lastBlock = index;
          this.prefetch(
            segments.slice(index + 1, index + 1 + this.#prefetchBlocks).map((s) => s.locator),
          );
        }
        return inner.read(start, end, options);
      },
    };
  }

  async #fetch(locator: string | Locator, options: GetOptions = {}): Promise<Uint8Array> {
    const loc = toLocator(locator);
    const order = rendezvousOrder(loc.digest, this.#services);
    const outcomes = new Map<string, ServiceOutcome & { notFound: boolean; retry: boolean }>();
    for (let round = 0; round < this.#retry.rounds; round++) {
      const candidates = round === 0 ? order : order.filter((s) => outcomes.get(s.id)?.retry);
      if (candidates.length === 0) break;
      if (round > 0) await sleep(backoffDelay(this.#retry, round), options.signal);
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
            retry: !notFound && !(error instanceof BlockCorruptError) && isRetryable(error),
          } as ServiceOutcome & { notFound: boolean; retry: boolean };
          if (typeof status === "number") outcome.status = status;
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
   * @param options Block size, copies, classes, concurrency, signal, skipExisting.
   * @returns The stream; its `result` gives the manifest.
   */
  writable(options: BlockWriteStreamOptions = {}): BlockWriteStream {
    return new BlockWriteStream(this, options);
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
    if (/^https?:\/\//i.test(service)) {
      const keepOptions: ConstructorParameters<typeof KeepService>[1] = {};
      if (options.token !== undefined) keepOptions.token = options.token;
      if (options.fetch !== undefined) keepOptions.fetch = options.fetch;
      if (options.timeouts !== undefined) keepOptions.timeouts = options.timeouts;
      service = new KeepService(service, keepOptions);
    } else if (/^s3:\/\//i.test(service)) {
      const s3Options: Parameters<typeof S3Store.fromUrl>[1] = {};
      if (options.fetch !== undefined) s3Options.fetch = options.fetch;
      if (options.timeouts !== undefined) s3Options.timeouts = options.timeouts;
      service = S3Store.fromUrl(service, s3Options);
    } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(service)) {
      throw new TypeError(`Cannot use service '${service}': unsupported scheme`);
    } else {
      service = new FileStore(service);
    }
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
  if (error instanceof ServiceError) return error.retryable;
  if (error instanceof StoreFullError || error instanceof BlockCorruptError) return false;
  if (error instanceof BlockNotFoundError) return false;
  // Network errors, local I/O failures and unknown errors: try again later.
  return true;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
