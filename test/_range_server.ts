/**
 * An HTTP server for range-read tests and benchmarks: serves one object with
 * Range, ETag and If-Match, optionally slow (a delay before each response, a
 * per-connection byte rate, a byte rate shared by all connections), busy
 * (503 past a number of GETs at once), ignoring Range, or without HEAD.
 *
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** Options for {@link startRangeServer}. */
export interface RangeServerOptions {
  /** Answer 200 with the whole object to every ranged request. */
  ignoreRange?: boolean;
  /** Answer 405 to HEAD. */
  noHead?: boolean;
  /** Wait this long before each response, ms. */
  delayMs?: number;
  /** Cap each connection at this many bytes per second. */
  bytesPerSecond?: number;
  /** Cap all connections together at this many bytes per second (one shared link). */
  sharedBytesPerSecond?: number;
  /** Answer 503 (no Retry-After) to a GET past this many in progress at once. */
  maxConcurrent?: number;
  /** With `maxConcurrent`: send `Retry-After` with this many seconds. */
  retryAfter?: number;
}

/** A running range server. */
export interface RangeServer {
  url: string;
  /** Requests seen, those still open, and 503s sent. */
  requests: () => number;
  open: () => number;
  /** The most requests open at once so far. */
  peakOpen: () => number;
  busy: () => number;
  /** Replace the object (a new ETag). */
  setData(data: Uint8Array): void;
  close(): Promise<void>;
}

/** Starts a range server on 127.0.0.1. */
export async function startRangeServer(
  data: Uint8Array,
  options: RangeServerOptions = {},
): Promise<RangeServer> {
  let body = data;
  let version = 1;
  let requests = 0;
  let open = 0;
  let peakOpen = 0;
  let getsOpen = 0;
  let busy = 0;
  // The shared link: when it is next free, ms (performance.now()).
  let linkFree = 0;
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    requests++;
    open++;
    peakOpen = Math.max(peakOpen, open);
    res.once("close", () => open--);
    if (req.method === "GET" && options.maxConcurrent !== undefined) {
      if (getsOpen >= options.maxConcurrent) {
        busy++;
        res.statusCode = 503;
        if (options.retryAfter !== undefined) {
          res.setHeader("retry-after", String(options.retryAfter));
        }
        return res.end();
      }
      getsOpen++;
      res.once("close", () => getsOpen--);
    }
    if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
    const etag = `"v${version}"`;
    res.setHeader("etag", etag);
    res.setHeader("accept-ranges", "bytes");
    if (req.method === "HEAD") {
      if (options.noHead) {
        res.statusCode = 405;
        return res.end();
      }
      res.setHeader("content-length", String(body.length));
      return res.end();
    }
    const ifMatch = req.headers["if-match"];
    if (ifMatch !== undefined && ifMatch !== etag) {
      res.statusCode = 412;
      return res.end();
    }
    let start = 0;
    let end = body.length;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    if (range && !options.ignoreRange) {
      start = Number(range[1]);
      end = range[2] === "" ? body.length : Math.min(body.length, Number(range[2]) + 1);
      if (start >= body.length) {
        res.statusCode = 416;
        res.setHeader("content-range", `bytes */${body.length}`);
        return res.end();
      }
      res.statusCode = 206;
      res.setHeader("content-range", `bytes ${start}-${end - 1}/${body.length}`);
    }
    res.setHeader("content-length", String(end - start));
    const slice = body.subarray(start, end);
    const shared = options.sharedBytesPerSecond;
    if (!options.bytesPerSecond && !shared) return res.end(slice);
    // Throttle: 64 KiB pieces paced to the byte rate(s).
    const piece = 64 * 1024;
    const started = performance.now();
    for (let at = 0; at < slice.length && !res.destroyed; at += piece) {
      let due = options.bytesPerSecond
        ? started + (at / options.bytesPerSecond) * 1000
        : performance.now();
      if (shared) {
        // Pieces take turns on the one link, in the order they are due.
        linkFree = Math.max(linkFree, due) + (Math.min(piece, slice.length - at) / shared) * 1000;
        due = linkFree;
      }
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (!res.write(slice.subarray(at, at + piece))) {
        await new Promise((r) => res.once("drain", r));
      }
    }
    res.end();
  });
  server.keepAliveTimeout = 2000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/object`,
    requests: () => requests,
    open: () => open,
    peakOpen: () => peakOpen,
    busy: () => busy,
    setData(data) {
      body = data;
      version++;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
