/**
 * `createBlockHandler`: a Keep-compatible block service as one Web-standard
 * fetch handler, `(request: Request) => Promise<Response>`, over any
 * {@linkcode BlockStore}. Serve it with {@linkcode serve} (a thin `node:http`
 * adapter, in both runtimes) or any framework taking fetch handlers.
 *
 * Routes, as keepstore answers them:
 * - `PUT /<digest>[+<size>…]`: the body is hashed as it streams in; 400 on a
 *   digest or length mismatch, 413 over `maxBlockSize`, 507 when the store is
 *   full, 503 when it is unavailable, 401/403 for a missing or wrong token.
 *   Success returns the (signed) locator and `X-Keep-Replicas-Stored`,
 *   `X-Keep-Storage-Classes-Confirmed`.
 * - `GET`/`HEAD /<locator>`: with a signing key, a valid `+A` signature is
 *   required (401 missing or expired, 403 wrong). `Range` answers 206. A block
 *   failing its digest answers 502 and is logged, never served.
 * - `GET /index[/<prefix>]` (admin token): `<locator> <mtime ns>` lines, then a blank line.
 * - `DELETE /<locator>` (admin token). `GET /_health`.
 * - Malformed locators, path traversal and unknown routes: 400. Wrong methods: 405.
 *
 * @module
 */
import { type BlockStore, DEFAULT_BLOCK_SIZE } from "../model/block_store.ts";
import { newRequestId } from "../platform/_request_id.ts";
import { createHasher } from "../model/digest.ts";
import {
  BlockCorruptError,
  BlockNotFoundError,
  LocatorError,
  StoreError,
  StoreFullError,
} from "../model/errors.ts";
import { formatLocator, type Locator, parseLocator } from "../model/locator.ts";
import { BufferPool } from "../platform/_buffer_pool.ts";
import { ByteBudget } from "./_byte_budget.ts";
import {
  constantTimeEqual,
  DEFAULT_SIGNATURE_TTL,
  signLocator,
  verifyLocatorSignature,
} from "../model/permission.ts";

/** One request, as logged. */
export interface RequestLogEntry {
  /** `X-Request-Id` from the request, or a generated one. */
  requestId: string;
  /** HTTP method. */
  method: string;
  /** URL path. */
  path: string;
  /** Response status. */
  status: number;
  /** Time to the response headers, ms. */
  ms: number;
  /** Why the request failed, when it did. */
  error?: string;
}

/** Options for {@linkcode createBlockHandler}. */
export interface BlockHandlerOptions {
  /** Where blocks live. */
  store: BlockStore;
  /** Tokens allowed to PUT (and, with signing, to read). Empty: anyone may PUT. @default {[]} */
  tokens?: readonly string[];
  /** Token for `/index` and `DELETE`. Unset: those routes answer 403. */
  adminToken?: string;
  /** Blob signing key: locators returned by PUT are signed and GET/HEAD require a valid signature. */
  signingKey?: string | Uint8Array;
  /** Signature lifetime, seconds. @default {1209600} (two weeks) */
  signatureTtl?: number;
  /** Refuse writes (PUT answers 405). @default {false} */
  readOnly?: boolean;
  /** Largest block accepted, bytes. @default {67108864} (64 MiB) */
  maxBlockSize?: number;
  /**
   * Bytes the PUT bodies in flight may hold at once: each reserves its
   * Content-Length (the largest block when it has none) before it is read,
   * so neither load nor clients that stall mid-body can take more memory.
   * @default {4 × maxBlockSize} (256 MiB)
   */
  maxPutMemory?: number;
  /** How long a PUT waits for room in that budget before a 503 with Retry-After, ms. @default {10000} */
  putQueueTimeout?: number;
  /**
   * PUTs that may wait for room in that budget at once; one more is answered
   * 503 with Retry-After at once, and its connection closed, so that clients
   * that stall cannot pile up connections without bound (Arvados's
   * MaxConcurrentRequests, 64 by default). Each waiting connection costs the
   * runtime some buffering (measured: about 1 MB under Node, 15 MB under
   * Deno's `node:http`). @default {64}
   */
  maxQueuedPuts?: number;
  /** A request body that sends nothing for this long is refused (408), ms. @default {30000} */
  bodyIdleTimeout?: number;
  /** Storage classes this service confirms on PUT. @default {["default"]} */
  classes?: readonly string[];
  /** Called once per request. @default {no logging} */
  log?: (entry: RequestLogEntry) => void;
  /** Clock, Unix ms, for signatures. @default {Date.now} */
  now?: () => number;
}

const DIGEST_PATH = /^\/([0-9a-f]{32}|[0-9a-f]{64})(\+[^/]*)?$/;
const INDEX_PATH = /^\/index(?:\/([0-9a-f]*))?$/;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/**
 * Builds the block service's fetch handler; see the module doc.
 *
 * @param options The store, tokens, signing and limits.
 * @returns A fetch handler.
 *
 * @example The handler alone, without a server: a Request in, a Response out
 * ```ts
 * import { MemoryStore } from "stowage";
 * import { createBlockHandler } from "stowage/server";
 * import assert from "node:assert/strict";
 *
 * const handler = createBlockHandler({ store: new MemoryStore(), tokens: ["s3cret"] });
 * const url = "http://keep.internal/acbd18db4cc2f85cedef654fccc4a4d8";
 * const refused = await handler(new Request(url, { method: "PUT", body: "foo" }));
 * assert.equal(refused.status, 401);
 * await refused.body?.cancel();
 * const put = await handler(
 *   new Request(url, { method: "PUT", body: "foo", headers: { authorization: "Bearer s3cret" } }),
 * );
 * assert.equal(put.status, 200);
 * assert.match(await put.text(), /^acbd18db4cc2f85cedef654fccc4a4d8\+3/);
 * ```
 */
export function createBlockHandler(
  options: BlockHandlerOptions,
): (request: Request) => Promise<Response> {
  const store = options.store;
  if (store === undefined || typeof store.get !== "function") {
    throw new TypeError("Cannot create block handler: options.store must be a BlockStore");
  }
  const tokens = [...(options.tokens ?? [])];
  const maxBlockSize = options.maxBlockSize ?? DEFAULT_BLOCK_SIZE;
  const putMemory = new ByteBudget(options.maxPutMemory ?? 4 * maxBlockSize);
  // Bodies are received into buffers reused from PUT to PUT (keepstore's
  // buffer pool): a fresh 64 MiB buffer costs its first-touch page faults, as
  // much CPU as a third of hashing it. Lent and idle buffers stay within the budget.
  const buffers = new BufferPool({ blockSize: maxBlockSize, limit: putMemory.total });
  const putQueueTimeout = options.putQueueTimeout ?? 10_000;
  const maxQueuedPuts = options.maxQueuedPuts ?? 64;
  if (!Number.isSafeInteger(maxQueuedPuts) || maxQueuedPuts < 0) {
    throw new RangeError(
      `Cannot create block handler as maxQueuedPuts must be an integer >= 0: current value is ${maxQueuedPuts}`,
    );
  }
  const bodyIdleTimeout = options.bodyIdleTimeout ?? 30_000;
  if (!Number.isSafeInteger(maxBlockSize) || maxBlockSize <= 0) {
    throw new RangeError(
      `Cannot create block handler as maxBlockSize must be a positive integer: current value is ${maxBlockSize}`,
    );
  }
  const ttl = options.signatureTtl ?? DEFAULT_SIGNATURE_TTL;
  const classes = [...(options.classes ?? ["default"])];
  const now = options.now ?? Date.now;
  const log = options.log;

  function bearer(request: Request): string | undefined {
    const header = request.headers.get("authorization");
    if (header === null) return undefined;
    const match = /^(?:Bearer|OAuth2)\s+(\S+)\s*$/i.exec(header);
    return match ? match[1] : "";
  }

  function requireToken(request: Request, allowed: readonly string[], what: string): string {
    const token = bearer(request);
    if (token === undefined) throw new HttpError(401, `${what} needs an Authorization token`);
    let ok = false;
    // Check every token so timing does not reveal which one matched.
    for (const candidate of allowed) ok = constantTimeEqual(token, candidate) || ok;
    if (!ok) throw new HttpError(403, `${what}: the token is not allowed`);
    return token;
  }

  function parsePathLocator(path: string): Locator {
    try {
      return parseLocator(decodeURIComponent(path.slice(1)));
    } catch (error) {
      const reason = error instanceof LocatorError || error instanceof URIError
        ? error.message
        : String(error);
      throw new HttpError(400, `malformed locator: ${reason}`);
    }
  }

  async function put(request: Request, path: string): Promise<Response> {
    if (options.readOnly) {
      throw new HttpError(405, "this service is read-only", { Allow: "GET, HEAD" });
    }
    const token = tokens.length > 0 ? requireToken(request, tokens, "PUT") : bearer(request);
    const match = DIGEST_PATH.exec(path);
    if (match === null) throw new HttpError(400, "PUT needs /<digest>");
    const digest = match[1]!;
    let expectedSize: number | undefined;
    if (match[2] !== undefined) expectedSize = parsePathLocator(path).size;
    // Before any buffer is taken: a locator may claim any size.
    if (expectedSize !== undefined && expectedSize > maxBlockSize) {
      throw new HttpError(
        413,
        `block of ${expectedSize} bytes exceeds the limit of ${maxBlockSize}`,
      );
    }
    const lengthHeader = request.headers.get("content-length");
    let length: number | undefined;
    if (lengthHeader !== null) {
      if (!/^\d+$/.test(lengthHeader.trim())) {
        throw new HttpError(400, `bad Content-Length '${lengthHeader}'`);
      }
      length = Number(lengthHeader.trim());
      if (length > maxBlockSize) {
        throw new HttpError(413, `block of ${length} bytes exceeds the limit of ${maxBlockSize}`);
      }
      if (expectedSize !== undefined && expectedSize !== length) {
        throw new HttpError(
          400,
          `Content-Length ${length} does not match the locator's size ${expectedSize}`,
        );
      }
    }
    const size = length ?? expectedSize ?? maxBlockSize;
    // A body takes its buffer's whole size class from the budget.
    const wanted = buffers.classOf(size);
    if (!putMemory.fits(wanted) && putMemory.waiting >= maxQueuedPuts) {
      throw new HttpError(
        503,
        `the server has ${putMemory.waiting} uploads waiting already; try again`,
        { "Retry-After": "2", Connection: "close" },
      );
    }
    const release = await putMemory.reserve(wanted, {
      wait: putQueueTimeout,
      signal: request.signal,
    });
    if (release === undefined) {
      request.signal.throwIfAborted();
      throw new HttpError(503, "the server has no room for another upload now; try again", {
        "Retry-After": "2",
      });
    }
    const buffer = buffers.take(size);
    try {
      return await storeBody(request, buffer, digest, length ?? expectedSize, expectedSize, token);
    } finally {
      // The store's put has settled: nothing reads the buffer any more.
      buffers.give(buffer);
      release();
    }
  }

  /** Reads, checks and stores a PUT body, within its reservation. */
  async function storeBody(
    request: Request,
    buffer: Uint8Array,
    digest: string,
    length: number | undefined,
    expectedSize: number | undefined,
    token: string | undefined,
  ): Promise<Response> {
    const bytes = await readBody(
      request,
      buffer,
      length,
      digest.length === 32 ? "md5" : "sha256",
      bodyIdleTimeout,
    );
    if (bytes.hex !== digest) {
      throw new HttpError(
        400,
        `content hash ${bytes.hex} did not match specified locator ${digest}`,
      );
    }
    if (expectedSize !== undefined && bytes.data.length !== expectedSize) {
      throw new HttpError(
        400,
        `body has ${bytes.data.length} bytes, the locator says ${expectedSize}`,
      );
    }
    // The body was hashed as it streamed in: the store need not hash it again.
    const result = await store.put(bytes.data, {
      expect: formatLocator({ digest, size: bytes.data.length }),
      verified: true,
      signal: request.signal,
    });
    const locator = options.signingKey !== undefined && token
      ? signLocator(result.locator, { key: options.signingKey, token, ttl, now: now() })
      : result.locator;
    return textResponse(200, `${locator}\n`, {
      "x-keep-replicas-stored": String(result.replicas),
      "x-keep-storage-classes-confirmed": classes.map((c) => `${c}=${result.replicas}`).join(", "),
    });
  }

  function checkSignature(request: Request, locator: Locator): void {
    if (options.signingKey === undefined) return;
    const token = bearer(request);
    if (token === undefined || token === "") {
      throw new HttpError(401, "reading needs an Authorization token when signatures are on");
    }
    const check = verifyLocatorSignature(locator, {
      key: options.signingKey,
      token,
      ttl,
      now: now(),
    });
    if (check === "missing") throw new HttpError(401, "the locator has no permission signature");
    if (check === "expired") throw new HttpError(401, "the permission signature has expired");
    if (check === "invalid") {
      throw new HttpError(403, "the permission signature is not valid for this token");
    }
  }

  async function get(request: Request, path: string, head: boolean): Promise<Response> {
    if (!DIGEST_PATH.test(path)) throw new HttpError(400, "expected /<locator>");
    const locator = parsePathLocator(path);
    checkSignature(request, locator);
    const size = locator.size;
    if (head) {
      if (!(await store.has(locator))) {
        throw new BlockNotFoundError(locator.stripped, "this service");
      }
      return new Response(null, { status: 200, headers: { "content-length": String(size) } });
    }
    const range = parseRange(request.headers.get("range"), size);
    // The whole block is read and verified even for a range: bytes that fail
    // their digest are never served.
    const bytes = await store.get(locator, { signal: request.signal });
    if (range === undefined) {
      return new Response(bytesBody(bytes), {
        status: 200,
        headers: {
          "content-length": String(size),
          "content-type": "application/octet-stream",
          "accept-ranges": "bytes",
        },
      });
    }
    const [start, end] = range;
    return new Response(bytesBody(bytes.subarray(start, end)), {
      status: 206,
      headers: {
        "content-length": String(end - start),
        "content-range": `bytes ${start}-${end - 1}/${size}`,
        "content-type": "application/octet-stream",
        "accept-ranges": "bytes",
      },
    });
  }

  function index(request: Request, prefix: string): Response {
    if (options.adminToken === undefined) {
      throw new HttpError(403, "the index is disabled: no admin token is set");
    }
    requireToken(request, [options.adminToken], "the index");
    const encoder = new TextEncoder();
    const iterator = store.list({ prefix, signal: request.signal })[Symbol.asyncIterator]();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = await iterator.next();
        if (next.done) {
          controller.enqueue(encoder.encode("\n"));
          controller.close();
          return;
        }
        const mtimeNs = BigInt(Math.round(next.value.mtime * 1000)) * 1000n;
        controller.enqueue(encoder.encode(`${next.value.locator} ${mtimeNs}\n`));
      },
      async cancel() {
        await iterator.return?.();
      },
    });
    return new Response(body, {
      status: 200,
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  }

  async function remove(request: Request, path: string): Promise<Response> {
    if (options.adminToken === undefined) {
      throw new HttpError(403, "DELETE is disabled: no admin token is set");
    }
    if (!DIGEST_PATH.test(path)) throw new HttpError(400, "expected /<locator>");
    const locator = parsePathLocator(path);
    requireToken(request, [options.adminToken], "DELETE");
    if (options.readOnly) {
      throw new HttpError(405, "this service is read-only", { Allow: "GET, HEAD" });
    }
    if (!(await store.delete(locator))) {
      throw new BlockNotFoundError(locator.stripped, "this service");
    }
    return textResponse(200, "");
  }

  async function route(request: Request, path: string): Promise<Response> {
    const method = request.method;
    if (path === "/_health") {
      if (method !== "GET" && method !== "HEAD") {
        throw new HttpError(405, "use GET", { Allow: "GET, HEAD" });
      }
      return Response.json({ health: "OK" });
    }
    const indexMatch = INDEX_PATH.exec(path);
    if (indexMatch !== null) {
      if (method !== "GET") throw new HttpError(405, "use GET", { Allow: "GET" });
      return index(request, indexMatch[1] ?? "");
    }
    if (!DIGEST_PATH.test(path)) throw new HttpError(400, `no such route '${path.slice(0, 100)}'`);
    switch (method) {
      case "PUT":
        return await put(request, path);
      case "GET":
        return await get(request, path, false);
      case "HEAD":
        return await get(request, path, true);
      case "DELETE":
        return await remove(request, path);
      default:
        throw new HttpError(405, `method ${method} is not allowed`, {
          Allow: "GET, HEAD, PUT, DELETE",
        });
    }
  }

  return async function handle(request: Request): Promise<Response> {
    const started = performance.now();
    const requestId = request.headers.get("x-request-id") ?? newRequestId();
    let path: string;
    let response: Response;
    let failure: string | undefined;
    try {
      const url = new URL(request.url);
      path = url.pathname;
      response = await route(request, path);
    } catch (error) {
      path ??= "?";
      // A client that hung up is not a server failure: logged 499, as nginx does.
      const mapped = request.signal.aborted
        ? new HttpError(499, "the client closed the connection")
        : toHttpError(error);
      failure = mapped.message;
      response = textResponse(
        mapped.status,
        request.method === "HEAD" ? "" : `${mapped.message}\n`,
        mapped.headers,
      );
      // Whatever body the client still sends is not wanted.
      if (!request.bodyUsed && request.body !== null) request.body.cancel().catch(() => {});
    }
    response.headers.set("x-request-id", requestId);
    if (log !== undefined) {
      const entry: RequestLogEntry = {
        requestId,
        method: request.method,
        path,
        status: response.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
      };
      if (failure !== undefined) entry.error = failure;
      log(entry);
    }
    return response;
  };
}

const textEncoder = new TextEncoder();

/** A text response with its Content-Length, so no chunked encoding is needed. */
function textResponse(
  status: number,
  text: string,
  headers: Record<string, string> = {},
): Response {
  const body = textEncoder.encode(text);
  const all = new Headers(headers);
  all.set("content-type", "text/plain; charset=utf-8");
  all.set("content-length", String(body.length));
  return new Response(status === 204 || body.length === 0 ? null : body, { status, headers: all });
}

/**
 * A body of bytes the handler owns, as a stream: `new Response(bytes)` would
 * copy them first (the Fetch standard's body extraction), a megabyte a GET.
 */
function bytesBody(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });
}

function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof BlockNotFoundError) return new HttpError(404, error.message);
  if (error instanceof BlockCorruptError) return new HttpError(502, error.message);
  if (error instanceof StoreFullError) return new HttpError(507, error.message);
  if (error instanceof StoreError) return new HttpError(503, error.message);
  if (error instanceof RangeError) return new HttpError(416, error.message);
  const message = error instanceof Error ? error.message : String(error);
  return new HttpError(500, `internal error: ${message}`);
}

/**
 * Reads a request body into `buffer` (its length is the limit), hashing as it
 * goes; returns a view of the bytes received.
 */
async function readBody(
  request: Request,
  buffer: Uint8Array,
  length: number | undefined,
  algorithm: "md5" | "sha256",
  idleTimeout: number,
): Promise<{ data: Uint8Array; hex: string }> {
  const hasher = createHasher(algorithm);
  if (request.body === null) {
    if (length !== undefined && length !== 0) throw new HttpError(400, "the request has no body");
    return { data: new Uint8Array(0), hex: hasher.digest() };
  }
  const limit = buffer.length;
  let filled = 0;
  const reader = request.body.getReader();
  // A body that makes no progress would hold its reservation forever: one
  // watchdog per body (not a timer per chunk) ends it.
  let lastProgress = performance.now();
  let stalled = false;
  const watchdog = setInterval(() => {
    if (performance.now() - lastProgress < idleTimeout) return;
    stalled = true;
    reader.cancel().catch(() => {});
  }, Math.max(10, Math.min(1000, idleTimeout / 4)));
  try {
    for (;;) {
      let next;
      try {
        next = await reader.read();
      } catch (error) {
        throw new HttpError(400, `the request body failed: ${(error as Error)?.message ?? error}`);
      }
      if (stalled) {
        throw new HttpError(408, `the request body sent nothing for ${idleTimeout / 1000} s`);
      }
      lastProgress = performance.now();
      if (next.done) break;
      const chunk = next.value;
      if (filled + chunk.length > (length ?? limit)) {
        if (length !== undefined) {
          throw new HttpError(400, `the body is longer than its Content-Length ${length}`);
        }
        throw new HttpError(413, `block exceeds the limit of ${limit} bytes`);
      }
      buffer.set(chunk, filled);
      hasher.update(chunk);
      filled += chunk.length;
    }
  } catch (error) {
    // Refuse the rest of the body: cancelling lets the adapter drain and drop
    // it, where a released but unread stream would queue it in memory.
    await reader.cancel(error).catch(() => {});
    throw error;
  } finally {
    clearInterval(watchdog);
    reader.releaseLock();
  }
  if (length !== undefined && filled !== length) {
    throw new HttpError(400, `the body has ${filled} bytes, Content-Length says ${length}`);
  }
  return { data: buffer.subarray(0, filled), hex: hasher.digest() };
}

/** Parses a single-range `Range` header; undefined for none. */
function parseRange(header: string | null, size: number): [number, number] | undefined {
  if (header === null) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (match === null || (match[1] === "" && match[2] === "")) {
    throw new HttpError(416, `unsupported Range '${header}'`, {
      "content-range": `bytes */${size}`,
    });
  }
  let start: number;
  let end: number;
  if (match[1] === "") {
    const suffix = Number(match[2]);
    start = Math.max(0, size - suffix);
    end = size;
  } else {
    start = Number(match[1]);
    end = match[2] === "" ? size : Math.min(size, Number(match[2]) + 1);
  }
  if (start >= size || end <= start) {
    throw new HttpError(416, `Range '${header}' is outside the block of ${size} bytes`, {
      "content-range": `bytes */${size}`,
    });
  }
  return [start, end];
}
