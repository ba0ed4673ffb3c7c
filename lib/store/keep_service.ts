/**
 * `KeepService`: a {@linkcode BlockStore} over Keep's HTTP protocol, talking to
 * Stowage's own block server or to Arvados keepstore and keepproxy.
 *
 * - `PUT /<digest>` with `Authorization: Bearer <token>`,
 *   `X-Keep-Desired-Replicas`, `X-Keep-Storage-Classes`, `X-Request-Id`;
 *   reads `X-Keep-Replicas-Stored` (absent: 1) and
 *   `X-Keep-Storage-Classes-Confirmed`.
 * - `GET`/`HEAD /<locator>` (ranges with `Range`), `DELETE`, `GET /index/<prefix>`.
 * - Three deadlines per request: until response headers, between body chunks
 *   (idle), and for the whole request. On every path the response body is
 *   consumed or cancelled, so no socket is left half-read.
 *
 * @module
 */
import type {
  BlockInfo,
  BlockStore,
  GetOptions,
  ListOptions,
  PutOptions,
  PutResult,
} from "../model/block_store.ts";
import {
  checkBlockBody,
  checkPrefix,
  falseIfNotFound,
  locatorFor,
  resolveRange,
} from "./_block_utils.ts";
import {
  type Exchange,
  exchange,
  type ServiceTimeouts,
  serviceTimeouts,
} from "./_http_exchange.ts";
import { newRequestId } from "../platform/_request_id.ts";
import { BlockNotFoundError, ServiceError, StoreFullError } from "../model/errors.ts";
import { isEmptyBlock, type Locator, toLocator } from "../model/locator.ts";
import { isRetryableStatus } from "../model/retry.ts";

export type { ServiceTimeouts };

/** Options for {@linkcode KeepService}. */
export interface KeepServiceOptions {
  /** API token sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** `"disk"` stores one replica per PUT; a `"proxy"` fans out itself. @default {"disk"} */
  type?: "disk" | "proxy";
  /** Never written to. @default {false} */
  readOnly?: boolean;
  /** Stable id for rendezvous ordering. @default {the URL, normalised} */
  id?: string;
  /**
   * The fetch to use. @default {globalThis.fetch, and node:http for PUT bodies,
   * which the runtimes' fetch would copy}
   */
  fetch?: typeof fetch;
  /** Deadlines. */
  timeouts?: ServiceTimeouts;
}

/**
 * A block service over Keep's HTTP protocol; see the module doc.
 *
 * @example Talking to a block server
 * ```ts
 * import { KeepService, MemoryStore } from "stowage";
 * import { createBlockHandler, serve } from "stowage/server";
 * import assert from "node:assert/strict";
 *
 * const handler = createBlockHandler({ store: new MemoryStore(), tokens: ["s3cret"] });
 * const server = await serve(handler, { port: 0 });
 * try {
 *   const service = new KeepService(server.url, { token: "s3cret" });
 *   const { locator, replicas } = await service.put(new TextEncoder().encode("foo"));
 *   assert.equal(replicas, 1);
 *   assert.equal(new TextDecoder().decode(await service.get(locator)), "foo");
 * } finally {
 *   await server.close();
 * }
 * ```
 */
export class KeepService implements BlockStore {
  readonly id: string;
  /** Base URL, ending in `/`. */
  readonly url: string;
  /** `"disk"` or `"proxy"`. */
  readonly type: "disk" | "proxy";
  /** Whether writes are refused locally. */
  readonly readOnly: boolean;
  #token: string | undefined;
  #fetch: typeof fetch | undefined;
  #timeouts: Required<ServiceTimeouts>;

  /**
   * Creates a {@linkcode KeepService}.
   *
   * @param url The service's base URL (`http://` or `https://`).
   * @param options Token, type, id, fetch and deadlines.
   * @throws {TypeError} On a URL that is not http(s).
   */
  constructor(url: string | URL, options: KeepServiceOptions = {}) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new TypeError(`Cannot construct KeepService: '${String(url)}' is not a URL`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new TypeError(`Cannot construct KeepService: '${parsed.href}' is not http(s)`);
    }
    if (!parsed.pathname.endsWith("/")) parsed.pathname += "/";
    this.url = parsed.href;
    this.id = options.id ?? this.url;
    this.type = options.type ?? "disk";
    if (this.type !== "disk" && this.type !== "proxy") {
      throw new TypeError(
        `Cannot construct KeepService: type must be 'disk' or 'proxy', not '${this.type}'`,
      );
    }
    this.readOnly = options.readOnly ?? false;
    this.#token = options.token;
    this.#fetch = options.fetch;
    this.#timeouts = serviceTimeouts(options.timeouts);
  }

  async put(bytes: Uint8Array, options: PutOptions = {}): Promise<PutResult> {
    if (this.readOnly) {
      throw new ServiceError(this.id, "Cannot put block: the service is read-only", {
        retryable: false,
      });
    }
    const locator = locatorFor(
      bytes,
      options.algorithm ?? "md5",
      options.expect,
      this.id,
      options.verified,
    );
    const headers: Record<string, string> = {
      "x-request-id": options.requestId ?? newRequestId(),
      "x-keep-desired-replicas": String(options.copies ?? 1),
      "content-type": "application/octet-stream",
    };
    if (options.classes && options.classes.length > 0) {
      headers["x-keep-storage-classes"] = [...options.classes].sort().join(", ");
    }
    const response = await this.#request("PUT", locator.split("+")[0]!, {
      headers,
      body: bytes,
      signal: options.signal,
      onProgress: options.onProgress,
      action: `put block '${locator}'`,
    });
    const text = new TextDecoder().decode(response.body).trim();
    const replicasHeader = response.headers.get("x-keep-replicas-stored");
    const replicas = replicasHeader !== null && /^\d+$/.test(replicasHeader.trim())
      ? Number(replicasHeader.trim())
      : 1;
    const result: PutResult = {
      locator: text.startsWith(locator.split("+")[0]!) ? text : locator,
      replicas,
    };
    const confirmed = response.headers.get("x-keep-storage-classes-confirmed");
    if (confirmed !== null) result.classes = parseClasses(confirmed);
    return result;
  }

  async get(locator: string | Locator, options: GetOptions = {}): Promise<Uint8Array> {
    const loc = toLocator(locator);
    const [start, end] = resolveRange(options.range, loc.size, loc.stripped);
    options.signal?.throwIfAborted();
    if (isEmptyBlock(loc)) return new Uint8Array(0);
    const whole = start === 0 && end === loc.size;
    const headers: Record<string, string> = {};
    if (!whole) {
      if (end === start) return new Uint8Array(0);
      headers.range = `bytes=${start}-${end - 1}`;
    }
    const text = typeof locator === "string"
      ? locator
      : `${loc.stripped}${loc.hints.map((h) => `+${h}`).join("")}`;
    const response = await this.#request("GET", text, {
      headers,
      signal: options.signal,
      action: `get block '${loc.stripped}'`,
      notFound: loc.stripped,
    });
    return checkBlockBody(loc, start, end, response.status, response.body, this.id);
  }

  async has(locator: string | Locator, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    const loc = toLocator(locator);
    if (isEmptyBlock(loc)) return true;
    const text = typeof locator === "string" ? locator : loc.stripped;
    return await falseIfNotFound(this.#request("HEAD", text, {
      signal: options.signal,
      action: `check block '${loc.stripped}'`,
      notFound: loc.stripped,
    }));
  }

  async delete(
    locator: string | Locator,
    options: { signal?: AbortSignal } = {},
  ): Promise<boolean> {
    const loc = toLocator(locator);
    return await falseIfNotFound(this.#request("DELETE", loc.stripped, {
      signal: options.signal,
      action: `delete block '${loc.stripped}'`,
      notFound: loc.stripped,
    }));
  }

  async *list(options: ListOptions = {}): AsyncGenerator<BlockInfo> {
    const prefix = options.prefix ?? "";
    checkPrefix(prefix);
    const response = await this.#request("GET", prefix ? `index/${prefix}` : "index", {
      signal: options.signal,
      action: "list blocks",
    });
    const lines = new TextDecoder().decode(response.body).split("\n");
    const blocks: BlockInfo[] = [];
    for (const line of lines) {
      if (line === "") continue;
      const [locator, mtime] = line.split(" ");
      const loc = toLocator(locator!);
      // Keep's index gives mtimes in nanoseconds.
      blocks.push({ locator: loc.stripped, size: loc.size, mtime: Number(mtime) / 1e6 });
    }
    blocks.sort((a, b) => (a.locator < b.locator ? -1 : a.locator > b.locator ? 1 : 0));
    yield* blocks;
  }

  /** One request with deadlines; maps error statuses to typed errors. */
  async #request(
    method: string,
    path: string,
    options: {
      headers?: Record<string, string>;
      body?: Uint8Array;
      signal?: AbortSignal | undefined;
      onProgress?: ((sent: number) => void) | undefined;
      action: string;
      notFound?: string;
    },
  ): Promise<Exchange> {
    const headers: Record<string, string> = { ...options.headers };
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    const response = await exchange({
      service: this.id,
      method,
      url: new URL(path, this.url),
      headers,
      body: options.body,
      onBodyProgress: options.onProgress,
      signal: options.signal,
      timeouts: this.#timeouts,
      fetch: this.#fetch,
      action: options.action,
    });
    const status = response.status;
    if ((status === 404 || status === 410) && options.notFound !== undefined) {
      throw new BlockNotFoundError(options.notFound, `service '${this.id}'`);
    }
    if (status < 200 || status > 299) {
      const text = new TextDecoder().decode(response.body).trim().slice(0, 200);
      const message = `Cannot ${options.action}: HTTP ${status}${text ? ` ${text}` : ""}`;
      if (status === 507) {
        throw new StoreFullError(`${message} (service '${this.id}')`, { status });
      }
      throw new ServiceError(this.id, message, { status, retryable: isRetryableStatus(status) });
    }
    return response;
  }
}

/** Parses `X-Keep-Storage-Classes-Confirmed: a=1, b=2`. */
export function parseClasses(header: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of header.split(",")) {
    const [name, count] = part.trim().split("=");
    if (name && count !== undefined && /^\d+$/.test(count.trim())) {
      out[name.trim()] = (out[name.trim()] ?? 0) + Number(count.trim());
    }
  }
  return out;
}
