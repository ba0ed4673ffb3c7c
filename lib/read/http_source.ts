/**
 * `httpSource`: a {@linkcode RangeSource} over HTTP Range requests.
 *
 * - Learns the size from HEAD, or from the first ranged response's
 *   `Content-Range` when HEAD is not allowed.
 * - Requires `206` with a matching `Content-Range`; a `200` to a ranged request
 *   raises {@linkcode RangeNotSupportedError} unless the whole object was wanted.
 * - Pins the version: requests carry `If-Match` (strong ETag) or
 *   `If-Unmodified-Since`, and a changed object raises
 *   {@linkcode SourceChangedError} instead of mixing versions.
 * - Every response body not used is cancelled.
 *
 * @module
 */
import { RangeNotSupportedError, ServiceError, SourceChangedError } from "../model/errors.ts";
import { checkRange } from "../model/_range.ts";
import { errorDetail } from "../model/_error_detail.ts";
import type { RangeReadOptions, RangeSource } from "./range_source.ts";
import {
  backoffDelay,
  isRetryableStatus,
  type RetryOptions,
  retryPolicy,
  sleep,
} from "../model/retry.ts";
import { nodeFetch } from "../platform/_node_fetch.ts";
import { pieceStream } from "./_piece_stream.ts";
import { Chunker } from "../platform/_chunker.ts";

/** Options for {@linkcode httpSource}. */
export interface HttpSourceOptions {
  /** The fetch to use. @default {globalThis.fetch} */
  fetch?: typeof fetch;
  /** Headers for every request (authorization, …). */
  headers?: Headers | Record<string, string> | [string, string][];
  /** Aborts learning the size. */
  signal?: AbortSignal;
  /**
   * How a request that the server pushes back on (503, 429) is tried again:
   * after its `Retry-After`, or the policy's backoff, within the policy's
   * rounds. A server that is busy frees up in a moment, and the read path
   * sends fewer requests at once after a pushback, so the first wait is
   * short (the AWS SDKs' 100 ms). Fields left out take these defaults.
   * @default {6 rounds from 100 ms, doubling: about 3 s of waits in all}
   */
  retry?: RetryOptions;
}

/** An HTTP range source, with what it learned about the object. */
export interface HttpSource extends RangeSource {
  /** The URL. */
  readonly url: string;
  /** The pinned ETag, if the server gave a strong one. */
  readonly etag: string | undefined;
  /** The pinned Last-Modified, if any. */
  readonly lastModified: string | undefined;
}

/**
 * Opens an HTTP object for ranged reads.
 *
 * @param url The object's URL.
 * @param options fetch, headers, signal.
 * @returns The source.
 * @throws {ServiceError} When the server answers with an error.
 *
 * @example Reading part of an object over HTTP Range requests
 * ```ts
 * import { httpSource, MemoryStore } from "stowage";
 * import { createBlockHandler, serve } from "stowage/server";
 * import assert from "node:assert/strict";
 *
 * // A block server stands in for any server that answers Range requests.
 * const store = new MemoryStore();
 * const { locator } = await store.put(new TextEncoder().encode("hello world"));
 * const server = await serve(createBlockHandler({ store }), { port: 0 });
 * try {
 *   const source = await httpSource(new URL(locator, server.url).href);
 *   assert.equal(source.size, 11);
 *   assert.equal(new TextDecoder().decode(await source.read(6, 11)), "world");
 * } finally {
 *   await server.close();
 * }
 * ```
 */
export async function httpSource(
  url: string | URL,
  options: HttpSourceOptions = {},
): Promise<HttpSource> {
  const href = new URL(url).href;
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const baseHeaders = new Headers(options.headers);
  let size: number | undefined;
  let etag: string | undefined;
  let lastModified: string | undefined;

  const policy = retryPolicy({ rounds: 6, baseDelay: 100, ...options.retry });
  // A network failure names the URL and its cause, not just "fetch failed";
  // a server that pushes back (503, 429) is asked again after the wait it
  // names (or the policy's backoff), within the policy's rounds.
  const request = async (
    action: string,
    send: () => Promise<Response>,
    signal: AbortSignal | undefined,
    onPushback?: () => void,
  ): Promise<Response> => {
    for (let round = 1;; round++) {
      let response: Response;
      try {
        response = await send();
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        throw new ServiceError(href, `Cannot ${action}: ${errorDetail(error)}`, {
          retryable: true,
        }, { cause: error });
      }
      if ((response.status !== 503 && response.status !== 429) || round >= policy.rounds) {
        return response;
      }
      await response.body?.cancel().catch(() => {});
      onPushback?.();
      const wait = retryAfter(response.headers) ?? backoffDelay(policy, round);
      await sleep(Math.min(wait, policy.maxDelay), signal);
    }
  };
  const head = await request(
    "learn the object's size",
    () =>
      doFetch(href, {
        method: "HEAD",
        headers: baseHeaders,
        ...(options.signal ? { signal: options.signal } : {}),
      }),
    options.signal,
  );
  await head.body?.cancel();
  if (
    head.ok && head.headers.get("content-length") !== null &&
    head.headers.get("content-encoding") === null
  ) {
    size = Number(head.headers.get("content-length"));
    ({ etag, lastModified } = validators(head.headers));
  } else {
    // No usable HEAD: ask for the first byte and read the total from Content-Range.
    const headers = new Headers(baseHeaders);
    headers.set("range", "bytes=0-0");
    const probe = await request(
      "learn the object's size",
      () => doFetch(href, { headers, ...(options.signal ? { signal: options.signal } : {}) }),
      options.signal,
    );
    await probe.body?.cancel();
    if (probe.status === 206) {
      const total = /\/(\d+)$/.exec(probe.headers.get("content-range") ?? "");
      if (total) size = Number(total[1]);
    } else if (probe.status === 416) {
      size = 0;
    } else if (!probe.ok) {
      throw statusError(href, probe.status, "learn the object's size");
    }
    ({ etag, lastModified } = validators(probe.headers));
  }
  if (size === undefined || !Number.isSafeInteger(size)) {
    throw new RangeNotSupportedError(
      href,
      "no Content-Length or Content-Range to learn the size from",
    );
  }
  const total = size;

  return {
    url: href,
    size: total,
    etag,
    lastModified,
    async read(start, end, opts = {}) {
      checkRange(start, end, total);
      if (end === start) return new Uint8Array(0);
      const body = await open(start, end, end - start, opts);
      try {
        // One piece of the whole size: the bytes land in one buffer, uncopied.
        const bytes = await body.next();
        await body.next(); // checks that the body ends here
        return bytes ?? new Uint8Array(0);
      } finally {
        await body.cancel();
      }
    },
    stream(start, end, opts = {}) {
      checkRange(start, end, total);
      let body: BodyPieces | undefined;
      let released = false;
      return pieceStream({
        async next() {
          if (end === start) return undefined;
          body ??= await open(start, end, PIECE_SIZE, opts);
          // Cancelled while the request was on its way: don't wait for a
          // piece before the body is let go.
          if (released) return undefined;
          return body.next();
        },
        release: async () => {
          released = true;
          await body?.cancel();
        },
      }, opts.signal);
    },
  };

  /** Sends the ranged GET, checks the answer, and returns its body as pieces. */
  async function open(
    start: number,
    end: number,
    pieceSize: number,
    { signal, onPushback }: RangeReadOptions,
  ): Promise<BodyPieces> {
    const headers = new Headers(baseHeaders);
    headers.set("range", `bytes=${start}-${end - 1}`);
    if (etag !== undefined) headers.set("if-match", etag);
    else if (lastModified !== undefined) headers.set("if-unmodified-since", lastModified);
    // Under Node, range GETs go over node:http unless a fetch was given:
    // undici's fetch costs more CPU per byte on large bodies (measured 0.45x
    // vs 0.8x a plain body). Deno's own fetch is the faster one there.
    const overNode = options.fetch === undefined && !isDeno;
    const response = await request(
      `read bytes ${start}-${end - 1}`,
      () =>
        overNode
          ? nodeFetch(new URL(href), {
            method: "GET",
            headers: Object.fromEntries(headers),
            pieceSize,
            ...(signal ? { signal } : {}),
          })
          : doFetch(href, { headers, ...(signal ? { signal } : {}) }),
      signal,
      onPushback,
    );
    try {
      if (response.status === 412) throw new SourceChangedError(href, "412 Precondition Failed");
      const now = validators(response.headers);
      if (etag !== undefined && now.etag !== undefined && now.etag !== etag) {
        throw new SourceChangedError(href, `ETag ${etag} became ${now.etag}`);
      }
      if (response.status === 200) {
        if (start !== 0 || end !== total) {
          throw new RangeNotSupportedError(href, `asked for bytes ${start}-${end - 1}, got 200`);
        }
      } else if (response.status === 206) {
        const range = response.headers.get("content-range");
        if (range !== `bytes ${start}-${end - 1}/${total}`) {
          if (range !== null && !range.endsWith(`/${total}`)) {
            throw new SourceChangedError(href, `size ${total} became ${range.split("/")[1]}`);
          }
          throw new RangeNotSupportedError(
            href,
            `asked for bytes ${start}-${end - 1}, got Content-Range '${range}'`,
          );
        }
      } else {
        throw statusError(href, response.status, `read bytes ${start}-${end - 1}`);
      }
    } catch (error) {
      await response.body?.cancel().catch(() => {});
      throw error;
    }
    // nodeFetch's body is not a byte stream: don't ask it for a BYOB reader
    // (Node builds a costly error message to say no).
    return new BodyPieces(response.body, pieceSize, start, end, href, !overNode);
  }
}

/**
 * Bytes per piece of a streamed range: pieces this size are reused by the
 * allocator, where one buffer per 8 MiB range is not (measured on a 2-core
 * machine: four 8 MiB ranges in flight ran at 0.75x a plain body when each
 * landed in its own buffer, 1.1x in 1 MiB pieces).
 */
const PIECE_SIZE = 1024 * 1024;

/** `read(view, { min })`, newer than TypeScript's DOM types. */
interface ByobReaderWithMin {
  read(
    view: Uint8Array<ArrayBuffer>,
    options: { min: number },
  ): Promise<ReadableStreamReadResult<Uint8Array<ArrayBuffer>>>;
}

/**
 * A response body read as pieces of a fixed size (the last may be shorter)
 * that must add up to exactly `end - start` bytes. A byte stream (Deno's
 * fetch) fills each piece itself through a BYOB reader; other bodies' chunks
 * are copied in, or passed on when one is exactly a piece.
 */
class BodyPieces {
  #body: ReadableStream<Uint8Array> | null;
  #byob: ReadableStreamBYOBReader | undefined;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  /** Cuts a default reader's chunks; a chunk that is exactly a piece passes as it is. */
  #chunker: Chunker;
  #ready: Uint8Array[] = [];
  #ended = false;
  #pieceSize: number;
  #start: number;
  #end: number;
  #url: string;
  #at = 0;
  #done = false;

  constructor(
    body: ReadableStream<Uint8Array> | null,
    pieceSize: number,
    start: number,
    end: number,
    url: string,
    tryByob: boolean,
  ) {
    this.#body = body;
    this.#pieceSize = pieceSize;
    this.#start = start;
    this.#end = end;
    this.#url = url;
    this.#chunker = new Chunker(pieceSize, { expected: end - start, adoptExact: true });
    if (body === null) return;
    try {
      if (tryByob) this.#byob = body.getReader({ mode: "byob" });
    } catch {
      // Not a byte stream: read its chunks.
    }
    this.#reader = this.#byob === undefined ? body.getReader() : undefined;
  }

  /** The next piece, or `undefined` once the body has ended where it should. */
  async next(): Promise<Uint8Array | undefined> {
    if (this.#done) return undefined;
    const expected = this.#end - this.#start;
    if (this.#at === expected) {
      // Full: the body must end here.
      if (await this.#more()) throw this.#lengthError("more than");
      this.#done = true;
      return undefined;
    }
    const size = Math.min(this.#pieceSize, expected - this.#at);
    const piece = this.#byob ? await this.#fillByob(size) : await this.#fill();
    this.#at += piece.length;
    if (piece.length < size) throw this.#lengthError("only");
    return piece;
  }

  /** Releases the body (cancels it unless it ended). */
  async cancel(): Promise<void> {
    this.#done = true;
    const reader = this.#byob ?? this.#reader;
    if (reader !== undefined) await reader.cancel().catch(() => {});
    else await this.#body?.cancel().catch(() => {});
  }

  async #fillByob(size: number): Promise<Uint8Array> {
    let buffer = new ArrayBuffer(size);
    let filled = 0;
    while (filled < size) {
      // `min`: one read fills the whole piece where supported (Deno);
      // elsewhere it is ignored and each read brings what has arrived.
      const view = new Uint8Array(buffer, filled, size - filled);
      const { done, value } = await (this.#byob as unknown as ByobReaderWithMin).read(view, {
        min: view.byteLength,
      });
      if (value !== undefined) {
        buffer = value.buffer as ArrayBuffer;
        filled += value.byteLength;
      }
      if (done) break;
    }
    return new Uint8Array(buffer, 0, filled);
  }

  /** The next piece cut from the body's chunks (short or empty when the body ends early). */
  async #fill(): Promise<Uint8Array> {
    while (this.#ready.length === 0 && !this.#ended && this.#reader !== undefined) {
      const { done, value } = await this.#reader.read();
      if (done) {
        this.#ended = true;
        const tail = this.#chunker.flush();
        if (tail !== undefined) this.#ready.push(tail);
      } else {
        for (const piece of this.#chunker.push(value)) this.#ready.push(piece);
      }
    }
    return this.#ready.shift() ?? new Uint8Array(0);
  }

  async #more(): Promise<boolean> {
    if (this.#byob) {
      const { done, value } = await this.#byob.read(new Uint8Array(1));
      return !done || (value?.byteLength ?? 0) > 0;
    }
    return (await this.#fill()).length > 0;
  }

  #lengthError(how: string): ServiceError {
    const expected = this.#end - this.#start;
    const got = how === "only" ? `only ${this.#at}` : `more than ${expected}`;
    return new ServiceError(
      this.#url,
      `Cannot read bytes ${this.#start}-${this.#end - 1}: the body had ${got} of ${expected} bytes`,
      { retryable: true },
    );
  }
}

const isDeno = "Deno" in globalThis;

function validators(
  headers: Headers,
): { etag: string | undefined; lastModified: string | undefined } {
  const etag = headers.get("etag") ?? undefined;
  // A weak ETag cannot be used with If-Match.
  return {
    etag: etag?.startsWith("W/") ? undefined : etag,
    lastModified: headers.get("last-modified") ?? undefined,
  };
}

/** `Retry-After` in ms (seconds or an HTTP date), when the server sent one. */
function retryAfter(headers: Headers): number | undefined {
  const value = headers.get("retry-after")?.trim();
  if (value === undefined || value === "") return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function statusError(url: string, status: number, action: string): ServiceError {
  return new ServiceError(url, `Cannot ${action}: HTTP ${status}`, {
    status,
    retryable: isRetryableStatus(status),
  });
}
