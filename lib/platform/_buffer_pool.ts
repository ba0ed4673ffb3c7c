/**
 * Reusable block buffers. A fresh 64 MiB `Uint8Array` costs more than copying
 * into it: the kernel maps and zeroes each page on first touch (about 0.6 s
 * of CPU per GiB here, as much as a third of an MD5 pass), and the memory is
 * unmapped again when it is collected. A pool hands the same pages out again.
 * Buffers come in size classes (powers of two from 64 KiB, and the pool's own
 * block size exactly), and the memory kept, lent and idle together, stays
 * within `limit`: an idle buffer of another class is dropped to make room.
 * Private to the package.
 *
 * A buffer given back must no longer be used by anyone: callers give it back
 * only once every reader of it (a store's `put`, a hash) has settled.
 *
 * @example
 * ```ts
 * import { BufferPool } from "./_buffer_pool.ts";
 *
 * const pool = new BufferPool({ blockSize: 1 << 20 });
 * const a = pool.take(1 << 20);
 * pool.give(a);
 * const b = pool.take(1000);
 * if (b.length !== 1000 || b.buffer.byteLength !== 65536) throw new Error("class size");
 * if (pool.take(1 << 20).buffer !== a.buffer) throw new Error("the same memory again");
 * ```
 *
 * @module
 */

/** The smallest size class. */
const MIN_CLASS = 64 * 1024;

/** Options for {@linkcode BufferPool}. */
export interface BufferPoolOptions {
  /** The size most requests ask for, kept as its own class. @default {67108864} */
  blockSize?: number;
  /** Bytes lent and idle together that the pool keeps at most. @default {Infinity} */
  limit?: number;
}

/** See the module doc. */
export class BufferPool {
  /** The size kept as its own class. */
  readonly blockSize: number;
  /** Bytes lent and idle together that the pool keeps at most. */
  readonly limit: number;
  #idle = new Map<number, ArrayBuffer[]>();
  #idleBytes = 0;
  #lent = 0;

  /**
   * Creates a {@linkcode BufferPool}.
   *
   * @param options Block size and limit.
   * @throws {RangeError} When the block size is not a positive safe integer.
   */
  constructor(options: BufferPoolOptions = {}) {
    this.blockSize = options.blockSize ?? 64 * 1024 * 1024;
    if (!Number.isSafeInteger(this.blockSize) || this.blockSize <= 0) {
      throw new RangeError(
        `Cannot construct BufferPool as blockSize must be a positive integer: current value is ${this.blockSize}`,
      );
    }
    this.limit = options.limit ?? Infinity;
  }

  /** Bytes held by idle buffers. */
  get idleBytes(): number {
    return this.#idleBytes;
  }

  /** Bytes lent out and not yet given back. */
  get lentBytes(): number {
    return this.#lent;
  }

  /**
   * The bytes a request of `size` takes from the pool: its size class.
   *
   * @param size Bytes wanted.
   * @returns The class size, at least `size`.
   */
  classOf(size: number): number {
    if (size === this.blockSize) return size;
    if (size <= MIN_CLASS) return MIN_CLASS;
    const power = 2 ** Math.ceil(Math.log2(size));
    // Between the block size and the next power of two, the block size's class fits.
    return size < this.blockSize && this.blockSize < power ? this.blockSize : power;
  }

  /**
   * Lends a buffer of `size` bytes (a view over its class's buffer). Its
   * content is whatever the last borrower left.
   *
   * @param size Bytes wanted.
   * @returns A view of exactly `size` bytes, at offset 0 of its buffer.
   */
  take(size: number): Uint8Array {
    const cls = this.classOf(size);
    const idle = this.#idle.get(cls);
    let buffer = idle?.pop();
    if (buffer !== undefined) {
      this.#idleBytes -= cls;
    } else {
      this.#makeRoom(cls);
      buffer = new ArrayBuffer(cls);
    }
    this.#lent += cls;
    return new Uint8Array(buffer, 0, size);
  }

  /**
   * Gives a lent buffer back (any view over it, or over the same memory after
   * a transfer). A detached buffer or one of a size the pool never lends is
   * ignored.
   *
   * @param bytes A view over the buffer.
   */
  give(bytes: Uint8Array): void {
    const buffer = bytes.buffer;
    const cls = buffer.byteLength;
    if (!(buffer instanceof ArrayBuffer) || cls === 0 || this.classOf(cls) !== cls) return;
    this.#lent = Math.max(0, this.#lent - cls);
    if (this.#lent + this.#idleBytes + cls > this.limit) return;
    const list = this.#idle.get(cls);
    if (list === undefined) this.#idle.set(cls, [buffer]);
    else list.push(buffer);
    this.#idleBytes += cls;
  }

  /** Drops every idle buffer. */
  clear(): void {
    this.#idle.clear();
    this.#idleBytes = 0;
  }

  /** Drops idle buffers of other classes until `cls` more fits within the limit. */
  #makeRoom(cls: number): void {
    if (this.#lent + this.#idleBytes + cls <= this.limit) return;
    for (const [size, list] of this.#idle) {
      while (list.length > 0 && this.#lent + this.#idleBytes + cls > this.limit) {
        list.pop();
        this.#idleBytes -= size;
      }
      if (list.length === 0) this.#idle.delete(size);
    }
  }
}
