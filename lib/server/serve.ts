/**
 * `serve`: runs a Web fetch handler as an HTTP server, a thin adapter over
 * `node:http` in both runtimes, with graceful shutdown (`close()` stops
 * accepting, lets in-flight requests finish, then closes idle connections) and
 * deadlines: a connection whose headers do not all arrive within
 * `headersTimeout` is closed (slowloris), and so is one idle between requests
 * for `idleTimeout`. A request body the handler leaves unread (a refused
 * upload) is drained for the next request only when at most 256 KiB of it
 * remain; past that the response closes the connection, as Go's `net/http`
 * does, rather than read up to a whole block nobody wants.
 *
 * Why `node:http` under Deno too: `Deno.serve` has no header deadline
 * (denoland/deno#3515), so 50 connections sending a byte a second held on for
 * good; and on this benchmark (`npm run bench -- server`) Deno's `node:http`
 * served 192 PUT+GET requests a second to `Deno.serve`'s 175.
 *
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fromNodeReadable } from "../platform/_node_io.ts";

/** Options for {@linkcode serve}. */
export interface ServeOptions {
  /** Port; 0 picks a free one. @default {0} */
  port?: number;
  /** Address to listen on. @default {"127.0.0.1"} */
  hostname?: string;
  /** Closes the server (gracefully) when aborted. */
  signal?: AbortSignal;
  /** Force-closes connections still open this long after `close()`, ms. @default {10000} */
  shutdownTimeout?: number;
  /**
   * Closes a connection whose request headers have not all arrived this long
   * after it began sending them, ms (slowloris). (A body that stalls is the
   * handler's to refuse: see `bodyIdleTimeout`.) @default {30000}
   */
  headersTimeout?: number;
  /** Closes a keep-alive connection idle this long between requests, ms. @default {5000} */
  idleTimeout?: number;
}

/** A running server. */
export interface Server {
  /** `http://<host>:<port>/`. */
  readonly url: string;
  /** The bound port. */
  readonly port: number;
  /** Stops accepting, waits for in-flight requests, closes connections. Idempotent. */
  close(): Promise<void>;
  /** `close()`, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Serves a fetch handler.
 *
 * @param handler The fetch handler.
 * @param options Port, host, signal, shutdown timeout, header and idle deadlines.
 * @returns The running server, once it listens.
 *
 * @example Serving the block handler on a free port
 * ```ts
 * import { MemoryStore } from "stowage";
 * import { createBlockHandler, serve } from "stowage/server";
 * import assert from "node:assert/strict";
 *
 * const server = await serve(createBlockHandler({ store: new MemoryStore() }), { port: 0 });
 * assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
 * await server.close();
 * ```
 */
export function serve(
  handler: (request: Request) => Promise<Response> | Response,
  options: ServeOptions = {},
): Promise<Server> {
  return serveNode(handler, options);
}

/** The Server: close() runs once; the signal closes it too. */
function makeServer(
  url: string,
  port: number,
  shutdown: () => Promise<void>,
  signal: AbortSignal | undefined,
): Server {
  let closing: Promise<void> | undefined;
  const onAbort = (): void => void server.close().catch(() => {});
  const server: Server = {
    url,
    port,
    close() {
      // The caller's signal must not keep this server reachable once it is closed.
      signal?.removeEventListener("abort", onAbort);
      closing ??= shutdown();
      return closing;
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
  };
  if (signal?.aborted) void server.close().catch(() => {});
  else signal?.addEventListener("abort", onAbort, { once: true });
  return server;
}

async function serveNode(
  handler: (request: Request) => Promise<Response> | Response,
  options: ServeOptions,
): Promise<Server> {
  const hostname = options.hostname ?? "127.0.0.1";
  const inFlight = new Set<Promise<void>>();
  const headersTimeout = options.headersTimeout ?? 30_000;
  const idleTimeout = options.idleTimeout ?? 5_000;
  for (const [name, value] of [["headersTimeout", headersTimeout], ["idleTimeout", idleTimeout]]) {
    if (!Number.isSafeInteger(value) || (value as number) < 1) {
      throw new RangeError(`Cannot serve with ${name} ${value}: expected an integer >= 1 (ms)`);
    }
  }
  const nodeServer = createServer({
    headersTimeout,
    // No deadline on a whole request: a large upload over a slow link may
    // take long; a body that stalls is refused by the handler instead.
    requestTimeout: 0,
    keepAliveTimeout: idleTimeout,
    // Deadlines are checked on this beat (Node's default, 30 s, lets a slow
    // client hold on well past them).
    connectionsCheckingInterval: Math.min(1_000, Math.ceil(headersTimeout / 2)),
  }, (req, res) => {
    const task = handleNode(handler, req, res, hostname).catch((error) => {
      // The adapter itself failed (not the handler, which answers 500 itself).
      if (!res.headersSent) {
        res.statusCode = 500;
        res.end(`internal error: ${(error as Error)?.message ?? error}\n`);
      } else {
        res.destroy();
      }
    }).finally(() => inFlight.delete(task));
    inFlight.add(task);
  });
  await new Promise<void>((resolve, reject) => {
    nodeServer.once("error", reject);
    nodeServer.listen(options.port ?? 0, hostname, () => {
      nodeServer.off("error", reject);
      resolve();
    });
  });
  const { port } = nodeServer.address() as AddressInfo;
  return makeServer(`http://${hostLiteral(hostname)}:${port}/`, port, async () => {
    const closed = new Promise<void>((resolve) => nodeServer.close(() => resolve()));
    nodeServer.closeIdleConnections();
    const timeout = options.shutdownTimeout ?? 10_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([...inFlight]),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeout))),
    ]);
    clearTimeout(timer);
    nodeServer.closeAllConnections();
    await closed;
  }, options.signal);
}

async function handleNode(
  handler: (request: Request) => Promise<Response> | Response,
  req: IncomingMessage,
  res: ServerResponse,
  hostname: string,
): Promise<void> {
  const controller = new AbortController();
  // The client went away before the response was complete.
  res.once("close", () => {
    if (!res.writableFinished) controller.abort(new Error("the client closed the connection"));
  });
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const host = req.headers.host ?? `${hostLiteral(hostname)}`;
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  const init: RequestInit & { duplex?: "half" } = { method, headers, signal: controller.signal };
  const body: BodyState = { opened: false, cancelled: false, received: 0 };
  if (hasBody) {
    init.body = lazyBody(req, body);
    init.duplex = "half";
  }
  let request: Request;
  try {
    request = new Request(`http://${host}${req.url ?? "/"}`, init);
  } catch {
    res.statusCode = 400;
    res.end("bad request\n");
    return;
  }
  const response = await handler(request);
  res.statusCode = response.status;
  response.headers.forEach((value, name) => res.appendHeader(name, value));
  // A body the handler refused or never read is drained only when little is
  // left (Go's net/http does the same): reading the rest of a 64 MiB upload
  // just refused would spend the memory and time the refusal was to save.
  const keep = !hasBody || req.complete || (body.opened && !body.cancelled) ||
    Number(req.headers["content-length"]) - body.received <= MAX_DRAIN_BYTES;
  if (!keep) res.setHeader("connection", "close");
  if (response.body === null || method === "HEAD") {
    await response.body?.cancel();
    res.end();
    return;
  }
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (res.destroyed) throw new Error("the client closed the connection");
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          const go = () => {
            res.off("drain", go);
            res.off("close", go);
            resolve();
          };
          res.on("drain", go);
          res.on("close", go);
        });
      }
    }
    res.end();
  } catch (error) {
    await reader.cancel(error).catch(() => {});
    res.destroy();
  } finally {
    // Drain a small unread rest so the connection can be reused.
    if (keep && hasBody && !req.complete) req.resume();
  }
}

/** Unread request bytes a connection is drained of to be kept alive; past them it is closed. */
const MAX_DRAIN_BYTES = 256 * 1024;

/** What became of a request body: whether the handler opened or refused it, and bytes read. */
interface BodyState {
  opened: boolean;
  cancelled: boolean;
  received: number;
}

/**
 * The request body as a byte stream that touches the socket only once the
 * handler reads it: a PUT that waits for the upload budget must not pull its
 * body in meanwhile. (Under Deno, a body once resumed kept arriving: 16 PUTs
 * waiting for a 64 MiB budget held 246 MB; untouched, they hold nothing.)
 */
function lazyBody(req: IncomingMessage, state: BodyState): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const open = () => {
    state.opened = true;
    return (reader ??= fromNodeReadable(req, { highWaterMark: 256 * 1024 }).getReader());
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await open().read();
      if (done) {
        controller.close();
        return;
      }
      state.received += value.length;
      controller.enqueue(value);
    },
    cancel(reason) {
      state.cancelled = true;
      // Untouched, the body stays on the socket; the response decides its fate.
      return reader?.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

function hostLiteral(hostname: string): string {
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}
