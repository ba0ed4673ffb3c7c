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
 * @example Talking to a block server
 * ```ts ignore
 * import { KeepService } from "stowage";
 *
 * const service = new KeepService("http://127.0.0.1:25107/", { token: "s3cret" });
 * const { locator, replicas } = await service.put(new TextEncoder().encode("foo"));
 * const bytes = await service.get(locator);
 * ```
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
} from "./block_store.ts";
import { checkPrefix, locatorFor, resolveRange } from "./_block_utils.ts";
import { newRequestId } from "./_request_id.ts";
import { digest } from "./digest.ts";
import {
  BlockCorruptError,
  BlockNotFoundError,
  DeadlineError,
  ServiceError,
  StoreFullError,
} from "./errors.ts";
import { isEmptyBlock, type Locator, toLocator } from "./locator.ts";
import { isRetryableStatus } from "./retry.ts";
import { nodeFetch } from "./_node_fetch.ts";

/** Deadlines for one request, in ms. */
export interface ServiceTimeouts {
  /** Until the response headers arrive. @default {20000} */
  headers?: number;
  /** Longest gap between two body chunks. @default {60000} */
  idle?: number;
  /** The whole request. @default {300000} */
  request?: number;
}

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

/** A block service over Keep's HTTP protocol; see the module doc. */
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
    this.#timeouts = {
      headers: options.timeouts?.headers ?? 20_000,
      idle: options.timeouts?.idle ?? 60_000,
      request: options.timeouts?.request ?? 300_000,
    };
  }

  async put(bytes: Uint8Array, options: PutOptions = {}): Promise<PutResult> {
    if (this.readOnly) {
      throw new ServiceError(this.id, "Cannot put block: the service is read-only", {
        retryable: false,
      });
    }
    const locator = locatorFor(
      bytes,
      options.digest ?? "md5",
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
    const bytes = response.body;
    if (whole) {
      if (response.status !== 200 || bytes.length !== loc.size) {
        throw new BlockCorruptError(
          loc.stripped,
          `service '${this.id}' sent ${bytes.length} bytes`,
        );
      }
      const actual = digest(bytes, loc.algorithm);
      if (actual !== loc.digest) {
        throw new BlockCorruptError(
          loc.stripped,
          `service '${this.id}' sent bytes hashing to '${actual}'`,
        );
      }
      return bytes;
    }
    if (response.status === 206) {
      if (bytes.length !== end - start) {
        throw new BlockCorruptError(
          loc.stripped,
          `service '${this.id}' sent ${bytes.length} bytes for a range of ${end - start}`,
        );
      }
      return bytes;
    }
    // A service that ignores Range sends the whole block: verify, then slice.
    if (bytes.length === loc.size && digest(bytes, loc.algorithm) === loc.digest) {
      return bytes.slice(start, end);
    }
    throw new BlockCorruptError(
      loc.stripped,
      `service '${this.id}' answered a range request with ${bytes.length} bytes`,
    );
  }

  async has(locator: string | Locator, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    const loc = toLocator(locator);
    if (isEmptyBlock(loc)) return true;
    const text = typeof locator === "string" ? locator : loc.stripped;
    try {
      await this.#request("HEAD", text, {
        signal: options.signal,
        action: `check block '${loc.stripped}'`,
        notFound: loc.stripped,
      });
      return true;
    } catch (error) {
      if (error instanceof BlockNotFoundError) return false;
      throw error;
    }
  }

  async delete(
    locator: string | Locator,
    options: { signal?: AbortSignal } = {},
  ): Promise<boolean> {
    const loc = toLocator(locator);
    try {
      await this.#request("DELETE", loc.stripped, {
        signal: options.signal,
        action: `delete block '${loc.stripped}'`,
        notFound: loc.stripped,
      });
      return true;
    } catch (error) {
      if (error instanceof BlockNotFoundError) return false;
      throw error;
    }
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

  /** One request with deadlines; returns the whole body, always consumed or cancelled. */
  async #request(
    method: string,
    path: string,
    options: {
      headers?: Record<string, string>;
      body?: Uint8Array;
      signal?: AbortSignal | undefined;
      action: string;
      notFound?: string;
    },
  ): Promise<{ status: number; headers: Headers; body: Uint8Array }> {
    options.signal?.throwIfAborted();
    const controller = new AbortController();
    const timers = new Set<ReturnType<typeof setTimeout>>();
    const deadline = (kind: "headers" | "idle" | "request", ms: number) => {
      const timer = setTimeout(() => controller.abort(new DeadlineError(this.id, kind, ms)), ms);
      timers.add(timer);
      return timer;
    };
    const onAbort = (): void => controller.abort(options.signal!.reason);
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const headers: Record<string, string> = { ...options.headers };
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    deadline("request", this.#timeouts.request);
    const headerTimer = deadline("headers", this.#timeouts.headers);
    let response: Response | undefined;
    try {
      try {
        const url = new URL(path, this.url);
        const init = { method, headers, body: options.body ?? null, signal: controller.signal };
        response = options.body !== undefined && this.#fetch === undefined
          ? await nodeFetch(url, init)
          : await (this.#fetch ?? globalThis.fetch)(url, init as RequestInit);
      } catch (error) {
        throw this.#networkError(error, controller.signal, options);
      }
      clearTimeout(headerTimer);
      const status = response.status;
      if (status === 404 || status === 410) {
        if (options.notFound !== undefined) {
          throw new BlockNotFoundError(options.notFound, `service '${this.id}'`);
        }
      }
      if (status < 200 || status > 299) {
        const text = await this.#readBody(response, controller, deadline).then(
          (b) => new TextDecoder().decode(b).trim().slice(0, 200),
          () => "",
        );
        throw this.#statusError(status, text, options.action);
      }
      let body: Uint8Array = new Uint8Array(0);
      if (method !== "HEAD") {
        try {
          body = await this.#readBody(response, controller, deadline);
        } catch (error) {
          throw this.#networkError(error, controller.signal, options);
        }
      }
      return { status, headers: response.headers, body };
    } catch (error) {
      if (
        controller.signal.aborted && !(error instanceof ServiceError) &&
        !(error instanceof BlockNotFoundError)
      ) {
        throw this.#networkError(error, controller.signal, options);
      }
      throw error;
    } finally {
      for (const timer of timers) clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      if (response?.body && !response.bodyUsed) response.body.cancel().catch(() => {});
    }
  }

  async #readBody(
    response: Response,
    controller: AbortController,
    deadline: (kind: "idle", ms: number) => ReturnType<typeof setTimeout>,
  ): Promise<Uint8Array> {
    if (response.body === null) return new Uint8Array(0);
    const reader = response.body.getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    let idle = deadline("idle", this.#timeouts.idle);
    const onAbort = () => reader.cancel(controller.signal.reason).catch(() => {});
    controller.signal.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        const { done, value } = await reader.read();
        clearTimeout(idle);
        if (done) break;
        controller.signal.throwIfAborted();
        chunks.push(value);
        total += value.length;
        idle = deadline("idle", this.#timeouts.idle);
      }
    } catch (error) {
      await reader.cancel(error).catch(() => {});
      throw controller.signal.aborted ? controller.signal.reason : error;
    } finally {
      clearTimeout(idle);
      controller.signal.removeEventListener("abort", onAbort);
      reader.releaseLock();
    }
    // A cancel on abort ends the read as if the body were complete.
    controller.signal.throwIfAborted();
    if (chunks.length === 1) return chunks[0]!;
    const out = new Uint8Array(total);
    let at = 0;
    for (const chunk of chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }

  #statusError(status: number, text: string, action: string): Error {
    const message = `Cannot ${action}: HTTP ${status}${text ? ` ${text}` : ""}`;
    if (status === 507) return new StoreFullError(`${message} (service '${this.id}')`, { status });
    return new ServiceError(this.id, message, { status, retryable: isRetryableStatus(status) });
  }

  #networkError(
    error: unknown,
    signal: AbortSignal,
    options: { signal?: AbortSignal | undefined; action: string },
  ): unknown {
    // The caller's own abort passes through unchanged.
    if (options.signal?.aborted) return options.signal.reason;
    if (signal.aborted && signal.reason instanceof DeadlineError) return signal.reason;
    const detail = error instanceof Error
      ? (error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message)
      : String(error);
    return new ServiceError(this.id, `Cannot ${options.action}: ${detail}`, { retryable: true }, {
      cause: error,
    });
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
