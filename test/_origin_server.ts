/**
 * An HTTP origin for the staging tests, on 127.0.0.1 (node:http, so the same
 * in Node and Deno): objects with ETags and Last-Modified, 304s, Range and
 * If-Range, Basic auth, a connection dropped at a chosen byte, a bandwidth
 * cap, an object that changes mid-fetch, checksum headers, and counters of
 * the body bytes it sent.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

/** One object the origin serves. */
interface OriginObject {
  body: Uint8Array;
  etag: string;
  lastModified: string;
}

/** How the origin behaves; every field can be changed between requests. */
export interface OriginBehaviour {
  /** Serve ranges (else 200 with the whole body to a Range request). @default {true} */
  ranges: boolean;
  /** Require this Basic auth `user:password`. */
  auth?: string | undefined;
  /** Drop the connection after this many body bytes, once per entry (consumed in order). */
  dropAt: number[];
  /** Bytes per second per response, or 0 for no cap. */
  rate: number;
  /** Replace the object with this body after this many body bytes of a response (then drop). */
  changeAt?: { after: number; body: Uint8Array } | undefined;
  /** The checksum headers sent with a 200. */
  checksum?: "content-md5" | "digest" | "repr-digest" | "s3" | "wrong-md5";
  /** Send ETags (else only Last-Modified). @default {true} */
  etags: boolean;
  /** Paths answered with a 302 to another URL. */
  redirects: Map<string, string>;
  /** Statuses to answer the next requests with, one each (consumed in order). */
  fail: number[];
  /** Serve ranges whatever If-Range says (a broken server). */
  ignoreIfRange: boolean;
  /** Send no Last-Modified (with `etags: false`, no validator at all). */
  noLastModified: boolean;
}

/** A running origin. */
export interface Origin {
  url(path: string): string;
  /** Sets (or changes) an object: a new ETag and Last-Modified. */
  set(path: string, body: Uint8Array): void;
  /** Body bytes sent, in all. */
  bodyBytes: number;
  /** Requests seen: method, path, and the headers that matter. */
  requests: {
    path: string;
    range?: string;
    ifRange?: string;
    conditional: boolean;
    auth?: string | undefined;
  }[];
  behaviour: OriginBehaviour;
  close(): Promise<void>;
}

/** Starts an origin on 127.0.0.1. */
export async function startOrigin(): Promise<Origin> {
  const objects = new Map<string, OriginObject>();
  let version = 0;
  const behaviour: OriginBehaviour = {
    ranges: true,
    dropAt: [],
    rate: 0,
    etags: true,
    redirects: new Map(),
    fail: [],
    ignoreIfRange: false,
    noLastModified: false,
  };
  const origin = {
    bodyBytes: 0,
    requests: [] as Origin["requests"],
    behaviour,
  } as Origin;
  const sockets = new Set<import("node:net").Socket>();
  const server: Server = createServer((req, res) => void handle(req, res));
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const record: Origin["requests"][number] = {
      path,
      conditional: req.headers["if-none-match"] !== undefined ||
        req.headers["if-modified-since"] !== undefined,
    };
    if (req.headers.range !== undefined) record.range = req.headers.range;
    if (typeof req.headers["if-range"] === "string") record.ifRange = req.headers["if-range"];
    if (req.headers.authorization !== undefined) record.auth = req.headers.authorization;
    origin.requests.push(record);
    const failure = behaviour.fail.shift();
    if (failure !== undefined) {
      res.writeHead(failure).end(`injected ${failure}`);
      return;
    }
    const redirect = behaviour.redirects.get(path);
    if (redirect !== undefined) {
      res.writeHead(302, { location: redirect }).end();
      return;
    }
    if (behaviour.auth !== undefined) {
      const expected = `Basic ${Buffer.from(behaviour.auth).toString("base64")}`;
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { "www-authenticate": 'Basic realm="origin"' }).end("no");
        return;
      }
    }
    const object = objects.get(path);
    if (object === undefined) {
      res.writeHead(404).end("not found");
      return;
    }
    const validators: Record<string, string> = behaviour.noLastModified
      ? {}
      : { "last-modified": object.lastModified };
    if (behaviour.etags) validators.etag = object.etag;
    const inm = req.headers["if-none-match"];
    const ims = req.headers["if-modified-since"];
    if (
      (inm !== undefined && behaviour.etags && inm === object.etag) ||
      (inm === undefined && ims !== undefined && ims === object.lastModified)
    ) {
      res.writeHead(304, validators).end();
      return;
    }
    let start = 0;
    let end = object.body.length;
    let status = 200;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    const ifRange = req.headers["if-range"];
    const current = ifRange === undefined || ifRange === object.etag ||
      ifRange === object.lastModified || behaviour.ignoreIfRange;
    if (range !== null && behaviour.ranges && current) {
      start = Number(range[1]);
      end = range[2] === ""
        ? object.body.length
        : Math.min(object.body.length, Number(range[2]) + 1);
      if (start >= object.body.length) {
        res.writeHead(416, { "content-range": `bytes */${object.body.length}` }).end();
        return;
      }
      status = 206;
    }
    const headers: Record<string, string | number> = {
      ...validators,
      "content-length": end - start,
      "accept-ranges": behaviour.ranges ? "bytes" : "none",
    };
    if (status === 206) {
      headers["content-range"] = `bytes ${start}-${end - 1}/${object.body.length}`;
    }
    if (status === 200) Object.assign(headers, checksumHeaders(object.body, behaviour.checksum));
    res.writeHead(status, headers);
    await send(res, object.body.subarray(start, end), path);
  }

  async function send(res: ServerResponse, body: Uint8Array, path: string): Promise<void> {
    const drop = behaviour.dropAt.length > 0 ? behaviour.dropAt.shift()! : Infinity;
    const change = behaviour.changeAt;
    const stopAt = Math.min(drop, change?.after ?? Infinity);
    const piece = 64 * 1024;
    let sent = 0;
    const started = performance.now();
    while (sent < body.length) {
      if (sent >= stopAt) {
        if (change !== undefined && sent >= change.after) {
          behaviour.changeAt = undefined;
          origin.set(path, change.body);
        }
        res.destroy();
        return;
      }
      const n = Math.min(piece, body.length - sent, stopAt - sent);
      const ok = res.write(body.subarray(sent, sent + n));
      sent += n;
      origin.bodyBytes += n;
      if (!ok) await new Promise((resolve) => res.once("drain", resolve));
      if (res.destroyed) return;
      if (behaviour.rate > 0) {
        const due = (sent / behaviour.rate) * 1000 - (performance.now() - started);
        if (due > 0) await new Promise((resolve) => setTimeout(resolve, due));
      }
    }
    res.end();
  }

  origin.url = (path) => `http://127.0.0.1:${(server.address() as { port: number }).port}${path}`;
  origin.set = (path, body) => {
    version++;
    objects.set(path, {
      body,
      etag: `"v${version}-${createHash("md5").update(body).digest("hex").slice(0, 8)}"`,
      // One second per version, so Last-Modified changes too.
      lastModified: new Date(Date.UTC(2026, 0, 1, 0, 0, version)).toUTCString(),
    });
  };
  origin.close = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return origin;
}

function checksumHeaders(
  body: Uint8Array,
  kind: OriginBehaviour["checksum"],
): Record<string, string> {
  const md5 = createHash("md5").update(body).digest();
  const sha = createHash("sha256").update(body).digest();
  switch (kind) {
    case "content-md5":
      return { "content-md5": md5.toString("base64") };
    case "digest":
      return { digest: `SHA-256=${sha.toString("base64")}` };
    case "repr-digest":
      return { "repr-digest": `sha-256=:${sha.toString("base64")}:` };
    case "s3":
      return { etag: `"${md5.toString("hex")}"`, "x-amz-request-id": "test" };
    case "wrong-md5":
      return { "content-md5": Buffer.alloc(16, 7).toString("base64") };
    default:
      return {};
  }
}
