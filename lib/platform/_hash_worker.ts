/**
 * Hashing blocks on a worker thread, so the main thread keeps cutting and
 * uploading while a block is hashed (MD5 of 64 MiB takes ~100 ms). Each block's
 * buffer is transferred to the worker and back, never copied. `node:worker_threads`
 * with an inline (eval) script works the same in Node and Deno, and needs no
 * file to be found next to the built bundle. Private to the package.
 *
 * @module
 */
import { Worker } from "node:worker_threads";
import type { DigestAlgorithm } from "../model/digest.ts";

const SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
parentPort.on("message", ({ id, buffer, offset, length, algorithm }) => {
  try {
    const hex = createHash(algorithm).update(new Uint8Array(buffer, offset, length)).digest("hex");
    parentPort.postMessage({ id, hex, buffer }, [buffer]);
  } catch (error) {
    parentPort.postMessage({ id, error: String(error), buffer }, [buffer]);
  }
});
`;

interface Pending {
  resolve: (result: { bytes: Uint8Array; hex: string }) => void;
  reject: (error: unknown) => void;
  offset: number;
  length: number;
}

/** One worker hashing blocks in the order they are given. */
export class HashWorker {
  #worker: Worker | undefined;
  #pending = new Map<number, Pending>();
  #next = 0;
  #failure: unknown;

  /**
   * Hashes a block on the worker. The block's buffer is transferred: use the
   * returned `bytes` (same memory) afterwards, not the argument.
   */
  hash(bytes: Uint8Array, algorithm: DigestAlgorithm): Promise<{ bytes: Uint8Array; hex: string }> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const worker = this.#start();
    // Only a buffer the block owns whole can be transferred.
    const owned = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength &&
        bytes.buffer instanceof ArrayBuffer
      ? bytes
      : bytes.slice();
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      // While a hash is owed, the worker keeps the process alive: otherwise a
      // process whose only work is this hash exits in the middle of a write.
      if (this.#pending.size === 0) worker.ref();
      this.#pending.set(id, { resolve, reject, offset: 0, length: owned.length });
      const buffer = owned.buffer as ArrayBuffer;
      worker.postMessage({ id, buffer, offset: 0, length: owned.length, algorithm }, [buffer]);
    });
  }

  /** Stops the worker; hashes still pending reject. */
  async terminate(reason: unknown = new Error("the hash worker was stopped")): Promise<void> {
    this.#failure ??= reason;
    const worker = this.#worker;
    this.#worker = undefined;
    for (const p of this.#pending.values()) p.reject(reason);
    this.#pending.clear();
    await worker?.terminate();
  }

  #start(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = new Worker(SOURCE, { eval: true });
    // An idle worker (a forgotten stream) must not keep the process alive.
    worker.unref();
    worker.on(
      "message",
      (message: { id: number; hex?: string; error?: string; buffer: ArrayBuffer }) => {
        const pending = this.#pending.get(message.id);
        if (pending === undefined) return;
        this.#pending.delete(message.id);
        if (this.#pending.size === 0) worker.unref();
        if (message.error !== undefined) {
          pending.reject(new Error(`Cannot hash block: ${message.error}`));
          return;
        }
        pending.resolve({
          bytes: new Uint8Array(message.buffer, pending.offset, pending.length),
          hex: message.hex!,
        });
      },
    );
    worker.on("error", (error) => {
      this.#failure ??= error;
      for (const p of this.#pending.values()) p.reject(error);
      this.#pending.clear();
    });
    this.#worker = worker;
    return worker;
  }
}
