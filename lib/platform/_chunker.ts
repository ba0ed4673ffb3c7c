/**
 * Cuts a run of byte chunks into pieces of one size: the one loop behind
 * `FixedChunkStream`, the write stream's blocks, Node body pieces and HTTP
 * range pieces. Each piece is its own buffer (one copy of each byte at most),
 * so a consumer may keep it, or transfer it to another thread. Private to
 * the package.
 *
 * @example Cutting 10 bytes into pieces of 4
 * ```ts
 * import { Chunker } from "./_chunker.ts";
 *
 * const chunker = new Chunker(4);
 * const pieces = [...chunker.push(new Uint8Array(6)), ...chunker.push(new Uint8Array(4))];
 * const tail = chunker.flush();
 * if (pieces.length !== 2 || tail?.length !== 2) throw new Error("unexpected pieces");
 * ```
 *
 * @module
 */

/** Options for {@linkcode Chunker}. */
export interface ChunkerOptions {
  /** Allocates a piece's buffer. @default {(n) => new Uint8Array(n)} */
  allocate?: (size: number) => Uint8Array;
  /**
   * Bytes expected in all: the last piece is allocated only as large as what
   * is left. Bytes past it are cut as usual (the caller checks lengths).
   * @default {Infinity}
   */
  expected?: number;
  /**
   * Pass a chunk that is exactly a fresh piece on as it is instead of copying
   * it. Only for chunks nobody else holds (a response body's own buffers).
   * @default {false}
   */
  adoptExact?: boolean;
}

/** See the module doc. */
export class Chunker {
  /** The piece size. */
  readonly size: number;
  #allocate: (size: number) => Uint8Array;
  #adopt: boolean;
  #left: number;
  #piece: Uint8Array | undefined;
  #filled = 0;

  /**
   * Creates a {@linkcode Chunker}.
   *
   * @param size Bytes per piece, a positive safe integer.
   * @param options Allocator, expected total, adoption of exact chunks.
   * @throws {RangeError} When `size` is not a positive safe integer.
   */
  constructor(size: number, options: ChunkerOptions = {}) {
    if (!Number.isSafeInteger(size) || size <= 0) {
      throw new RangeError(`Cannot cut bytes into pieces of ${size}: expected a positive integer`);
    }
    this.size = size;
    this.#allocate = options.allocate ?? ((n) => new Uint8Array(n));
    this.#adopt = options.adoptExact ?? false;
    this.#left = options.expected ?? Infinity;
  }

  /** Bytes held in the partial piece. */
  get buffered(): number {
    return this.#filled;
  }

  /**
   * Takes `chunk` in and yields each piece it completes, in order. The chunk
   * is copied as the pieces are taken, so a caller may await between them.
   *
   * @param chunk The bytes.
   * @returns The completed pieces.
   */
  *push(chunk: Uint8Array): Generator<Uint8Array, void, undefined> {
    for (let at = 0; at < chunk.length;) {
      if (this.#piece === undefined) {
        const size = this.#left > 0 ? Math.min(this.size, this.#left) : this.size;
        if (this.#adopt && at === 0 && chunk.length === size) {
          this.#left -= size;
          yield chunk;
          return;
        }
        this.#piece = this.#allocate(size);
        this.#left -= size;
      }
      const piece = this.#piece;
      const n = Math.min(chunk.length - at, piece.length - this.#filled);
      piece.set(n === chunk.length ? chunk : chunk.subarray(at, at + n), this.#filled);
      this.#filled += n;
      at += n;
      if (this.#filled === piece.length) {
        this.#piece = undefined;
        this.#filled = 0;
        yield piece;
      }
    }
  }

  /**
   * Ends the run: the partial piece, if any, and forgets it.
   *
   * @param copy Copy it into a buffer of its own length, so the full-size
   *   buffer can be collected. @default {false} (a view)
   * @returns The partial piece, or `undefined` when none.
   */
  flush(copy = false): Uint8Array | undefined {
    const piece = this.#piece;
    const filled = this.#filled;
    this.#piece = undefined;
    this.#filled = 0;
    if (piece === undefined || filled === 0) return undefined;
    return copy ? piece.slice(0, filled) : piece.subarray(0, filled);
  }
}
