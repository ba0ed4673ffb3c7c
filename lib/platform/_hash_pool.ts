/**
 * Hashing on all cores: a pool of worker threads, one per core by default,
 * shared by every writer in the process and started on first use. A block
 * goes to whichever thread is free, so one stream's blocks are hashed side by
 * side (MD5 of 64 MiB takes about 100 ms on one core) while the main thread
 * keeps cutting and storing. Callers await each block's promise, so results
 * are used in stream order whatever order the threads finish in.
 *
 * - A block whose buffer the caller owns whole is transferred to the thread
 *   and back, never copied. Other bytes (a caller's buffer given to
 *   `client.put`) are copied into a scratch buffer that each thread keeps, so
 *   the copy touches no fresh pages.
 * - `node:worker_threads` with an inline (eval) script works the same in Node
 *   and Deno, and needs no file to be found next to the built bundle.
 * - Threads do not keep the process alive while idle, and after `idleTimeout`
 *   without work they stop and drop their scratch memory.
 * - `STOWAGE_HASH_THREADS` sets the shared pool's size (0: hash on the main
 *   thread); the default is the number of cores, at most 8.
 *
 * Private to the package.
 *
 * @example
 * ```ts
 * import { HashPool } from "./_hash_pool.ts";
 *
 * const pool = new HashPool({ threads: 2 });
 * const block = new TextEncoder().encode("foo");
 * const { hex } = await pool.hash(block, "md5", { transfer: true });
 * if (hex !== "acbd18db4cc2f85cedef654fccc4a4d8") throw new Error("wrong digest");
 * await pool.terminate();
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";
import { availableParallelism } from "node:os";
import process from "node:process";
import { clearTimeout, setTimeout } from "node:timers";
import { Worker } from "node:worker_threads";
import type { DigestAlgorithm } from "../model/digest.ts";

const SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
parentPort.on("message", ({ buffer, offset, length, algorithm, ranges }) => {
  try {
    const bytes = new Uint8Array(buffer, offset, length);
    if (ranges !== undefined) {
      const hexes = [];
      for (let i = 0; i < ranges.length; i += 2) {
        hexes.push(createHash(algorithm).update(bytes.subarray(ranges[i], ranges[i + 1])).digest("hex"));
      }
      parentPort.postMessage({ hexes, buffer }, [buffer]);
      return;
    }
    const hex = createHash(algorithm).update(bytes).digest("hex");
    parentPort.postMessage({ hex, buffer }, [buffer]);
  } catch (error) {
    parentPort.postMessage({ error: String(error), buffer }, [buffer]);
  }
});
`;

/** Below this many bytes, a hash is done on the spot: a message costs more. */
export const HASH_POOL_MIN_BYTES = 1024 * 1024;

/** Most threads the default pool starts. */
const MAX_DEFAULT_THREADS = 8;

/** Options for {@linkcode HashPool}. */
export interface HashPoolOptions {
  /** Worker threads at most. @default {the number of cores, at most 8} */
  threads?: number;
  /** Idle time after which the threads stop, ms. @default {10000} */
  idleTimeout?: number;
}

/** A hashed block: the same memory as given (after a transfer, a new view of it). */
export interface HashResult {
  /** The block's bytes. */
  bytes: Uint8Array;
  /** Lowercase hex digest (of the whole, when no ranges were asked). */
  hex: string;
  /** With `ranges`: each range's digest, in order. */
  hexes: string[];
}

interface Job {
  bytes: Uint8Array;
  /** Start and end pairs, relative to `bytes`, to hash each on its own. */
  ranges: Uint32Array | undefined;
  /** Where the bytes lie in their buffer, kept because a transfer detaches the view. */
  offset: number;
  length: number;
  algorithm: DigestAlgorithm;
  transfer: boolean;
  urgent: boolean;
  resolve: (result: HashResult) => void;
  reject: (error: unknown) => void;
}

interface Thread {
  worker: Worker;
  job: Job | undefined;
  /** Kept between copied jobs, so copies reuse the same pages. */
  scratch: ArrayBuffer | undefined;
}

/** See the module doc. */
export class HashPool {
  /** Worker threads at most. */
  readonly threads: number;
  #idleTimeout: number;
  #threads: Thread[] = [];
  #queue: Job[] = [];
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #failure: { error: unknown } | undefined;

  /**
   * Creates a {@linkcode HashPool}.
   *
   * @param options Threads and idle timeout.
   * @throws {RangeError} When `threads` is not a positive integer.
   */
  constructor(options: HashPoolOptions = {}) {
    this.threads = options.threads ?? defaultThreads();
    if (!Number.isSafeInteger(this.threads) || this.threads <= 0) {
      throw new RangeError(
        `Cannot construct HashPool as threads must be a positive integer: current value is ${this.threads}`,
      );
    }
    this.#idleTimeout = options.idleTimeout ?? 10_000;
  }

  /** Threads running now. */
  get running(): number {
    return this.#threads.length;
  }

  /**
   * Hashes `bytes` on a free thread.
   *
   * @param bytes The block.
   * @param algorithm The digest.
   * @param options `transfer`: the caller owns `bytes.buffer` whole and gives
   *   it up until the promise settles (use the result's `bytes` afterwards).
   *   Otherwise the bytes are copied, and must not change until it settles.
   *   `ranges`: start and end pairs inside `bytes`, each hashed on its own
   *   (one message for many chunks). `urgent`: ahead of the queue (a
   *   pipeline waits on it; a block's digest waits behind).
   * @returns The digest (or the ranges' digests), and the block's bytes.
   */
  hash(
    bytes: Uint8Array,
    algorithm: DigestAlgorithm,
    options: { transfer: boolean; ranges?: Uint32Array; urgent?: boolean },
  ): Promise<HashResult> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure.error);
    const transfer = options.transfer && bytes.buffer instanceof ArrayBuffer &&
      !isShared(bytes.buffer);
    return new Promise<HashResult>((resolve, reject) => {
      const job: Job = {
        bytes,
        ranges: options.ranges,
        offset: bytes.byteOffset,
        length: bytes.length,
        algorithm,
        transfer,
        urgent: options.urgent ?? false,
        resolve,
        reject,
      };
      // Urgent jobs go after the urgent ones already waiting, before the rest.
      const at = job.urgent ? this.#queue.findIndex((j) => !j.urgent) : -1;
      if (at < 0) this.#queue.push(job);
      else this.#queue.splice(at, 0, job);
      this.#dispatch();
    });
  }

  /**
   * Stops every thread; hashes pending or asked for later reject with `reason`.
   *
   * @param reason Why.
   */
  async terminate(reason: unknown = new Error("the hash pool was stopped")): Promise<void> {
    this.#failure ??= { error: reason };
    for (const job of this.#queue.splice(0)) job.reject(reason);
    await this.#stopThreads(reason);
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      let thread = this.#threads.find((t) => t.job === undefined);
      if (thread === undefined) {
        if (this.#threads.length >= this.threads) return;
        thread = this.#start();
      }
      this.#run(thread, this.#queue.shift()!);
    }
  }

  #run(thread: Thread, job: Job): void {
    if (this.#idleTimer !== undefined) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = undefined;
    }
    thread.job = job;
    // While a hash is owed, the thread keeps the process alive: otherwise a
    // process whose only work is this hash exits in the middle of a write.
    thread.worker.ref();
    const { bytes } = job;
    let buffer: ArrayBuffer;
    let offset = 0;
    if (job.transfer) {
      buffer = bytes.buffer as ArrayBuffer;
      offset = bytes.byteOffset;
    } else {
      if (thread.scratch === undefined || thread.scratch.byteLength < bytes.length) {
        thread.scratch = new ArrayBuffer(bytes.length);
      }
      buffer = thread.scratch;
      thread.scratch = undefined;
      new Uint8Array(buffer, 0, bytes.length).set(bytes);
    }
    thread.worker.postMessage(
      { buffer, offset, length: bytes.length, algorithm: job.algorithm, ranges: job.ranges },
      [buffer],
    );
  }

  #start(): Thread {
    const worker = new Worker(SOURCE, { eval: true });
    const thread: Thread = { worker, job: undefined, scratch: undefined };
    worker.unref();
    worker.on("message", (
      message: { hex?: string; hexes?: string[]; error?: string; buffer: ArrayBuffer },
    ) => {
      const job = thread.job;
      thread.job = undefined;
      worker.unref();
      if (job !== undefined) {
        let bytes = job.bytes;
        if (job.transfer) {
          bytes = new Uint8Array(message.buffer, job.offset, job.length);
        } else thread.scratch = message.buffer;
        if (message.error !== undefined) {
          job.reject(new Error(`Cannot hash block: ${message.error}`));
        } else job.resolve({ bytes, hex: message.hex ?? "", hexes: message.hexes ?? [] });
      }
      this.#dispatch();
      this.#armIdleTimer();
    });
    worker.on("error", (error) => {
      // A thread that dies takes its job with it; the others carry on, and a
      // new thread is started for the queue.
      thread.job?.reject(error);
      thread.job = undefined;
      this.#threads = this.#threads.filter((t) => t !== thread);
      void worker.terminate().catch(() => {});
      this.#dispatch();
      this.#armIdleTimer();
    });
    this.#threads.push(thread);
    return thread;
  }

  #armIdleTimer(): void {
    if (this.#idleTimer !== undefined || this.#queue.length > 0) return;
    if (this.#threads.some((t) => t.job !== undefined) || this.#threads.length === 0) return;
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#threads.every((t) => t.job === undefined)) void this.#stopThreads();
    }, this.#idleTimeout);
    this.#idleTimer.unref();
  }

  async #stopThreads(reason?: unknown): Promise<void> {
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    const threads = this.#threads;
    this.#threads = [];
    for (const t of threads) {
      t.job?.reject(reason ?? new Error("the hash pool was stopped"));
      t.job = undefined;
    }
    await Promise.all(threads.map((t) => t.worker.terminate().catch(() => {})));
  }
}

function isShared(buffer: ArrayBufferLike): boolean {
  return typeof SharedArrayBuffer !== "undefined" && buffer instanceof SharedArrayBuffer;
}

/** The default size: the cores, at most 8. */
function defaultThreads(): number {
  return Math.max(1, Math.min(MAX_DEFAULT_THREADS, availableParallelism()));
}

/**
 * Reads a `STOWAGE_HASH_THREADS` setting.
 *
 * @param setting The variable's value, if set.
 * @returns Threads wanted (0: none), or `undefined` for the default.
 * @throws {RangeError} When it is not an integer from 0.
 */
export function hashThreadsSetting(setting: string | undefined): number | undefined {
  if (setting === undefined || setting.trim() === "") return undefined;
  const threads = Number(setting);
  if (!Number.isSafeInteger(threads) || threads < 0) {
    throw new RangeError(
      `Cannot start hashing threads as STOWAGE_HASH_THREADS must be an integer from 0: current value is '${setting}'`,
    );
  }
  return threads;
}

let shared: HashPool | null | undefined;

/**
 * The pool every writer in the process shares, or `null` when
 * `STOWAGE_HASH_THREADS=0` asks for hashing on the main thread.
 *
 * @returns The shared pool.
 * @throws {RangeError} When `STOWAGE_HASH_THREADS` is not an integer from 0.
 */
export function sharedHashPool(): HashPool | null {
  if (shared !== undefined) return shared;
  let setting: string | undefined;
  try {
    setting = process.env.STOWAGE_HASH_THREADS;
  } catch {
    // No permission to read the environment (Deno without --allow-env): the default.
  }
  const threads = hashThreadsSetting(setting);
  shared = threads === 0 ? null : new HashPool(threads === undefined ? {} : { threads });
  return shared;
}

/**
 * Hashes a block where it holds the main thread up least: on the shared
 * pool's threads when it is big enough to be worth a message, on the spot
 * otherwise (small, or `STOWAGE_HASH_THREADS=0`).
 *
 * @param bytes The block.
 * @param algorithm The digest.
 * @param options `transfer`: the caller owns `bytes.buffer` whole and uses
 *   the result's `bytes` afterwards; otherwise a big block is copied.
 * @returns The digest, and the block's bytes (a new view after a transfer).
 */
export async function hashBlock(
  bytes: Uint8Array,
  algorithm: DigestAlgorithm,
  options: { transfer: boolean },
): Promise<{ bytes: Uint8Array; hex: string }> {
  const pool = bytes.length < HASH_POOL_MIN_BYTES ? null : sharedHashPool();
  if (pool === null) return { bytes, hex: createHash(algorithm).update(bytes).digest("hex") };
  const { bytes: back, hex } = await pool.hash(bytes, algorithm, options);
  return { bytes: back, hex };
}
