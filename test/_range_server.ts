/**
 * An HTTP server for range-read tests and benchmarks: serves one object with
 * Range, ETag and If-Match, optionally slow (a delay before each response, a
 * per-connection byte rate), ignoring Range, or without HEAD.
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
}

/** A running range server. */
export interface RangeServer {
  url: string;
  /** Requests seen, and those still open. */
  requests: () => number;
  open: () => number;
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
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    requests++;
    open++;
    res.once("close", () => open--);
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
    if (!options.bytesPerSecond) return res.end(slice);
    // Throttle: 64 KiB pieces paced to the byte rate.
    const piece = 64 * 1024;
    const started = performance.now();
    for (let at = 0; at < slice.length && !res.destroyed; at += piece) {
      const due = started + (at / options.bytesPerSecond) * 1000;
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
