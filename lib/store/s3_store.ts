/**
 * `S3Store`: a {@linkcode BlockStore} on an S3-compatible bucket (AWS S3,
 * Google Cloud Storage's S3 interface, Ceph RGW, OpenStack Swift's s3api,
 * MinIO, R2, ...). Each bucket is one replica service for
 * {@linkcode BlockClient}, like any other store.
 *
 * - Each block is one object, `<prefix>/<digest[0:3]>/<digest>`, PUT whole as
 *   a `Uint8Array` with its Content-Length (never a chunked or aws-chunked
 *   body, which several S3 servers refuse). The server checks integrity for
 *   free: MD5 blocks carry `Content-MD5`, SHA-256 blocks carry their digest as
 *   the signed `x-amz-content-sha256`.
 * - Requests are signed with SigV4 by `aws4fetch`'s signer; aws4fetch's own
 *   retries are not used, so Stowage's retry policy is the only one.
 * - Errors: NoSuchKey → {@linkcode BlockNotFoundError}; 403 →
 *   {@linkcode AuthError} naming the bucket (never retried); SlowDown, 500,
 *   502, 503, 504 → a retryable {@linkcode ServiceError}.
 * - The same three deadlines as {@linkcode KeepService}; every response body
 *   is consumed or cancelled.
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
import { AuthError, BlockNotFoundError, ServiceError, StoreFullError } from "../model/errors.ts";
import { formatLocator, isEmptyBlock, type Locator, toLocator } from "../model/locator.ts";
import { isRetryableStatus } from "../model/retry.ts";
import type { ChunkIndex } from "../model/chunk_index.ts";
import type { KeyIndex } from "../model/key_index.ts";
import { concat } from "../platform/_concat.ts";
import { ShardedChunkIndex, type ShardStorage } from "./_sharded_chunk_index.ts";
import { type KeyIndexOptions, SlotKeyIndex, type SlotStorage } from "./_slot_key_index.ts";

/** Options for {@linkcode S3Store}. */
export interface S3StoreOptions {
  /** The bucket's name. */
  bucket: string;
  /** Access key id. */
  accessKeyId: string;
  /** Secret access key. */
  secretAccessKey: string;
  /** Session token, for temporary credentials. */
  sessionToken?: string;
  /** The signing region. @default {"us-east-1"} */
  region?: string;
  /**
   * The service's base URL, e.g. `http://127.0.0.1:18080`.
   * @default {`https://s3.<region>.amazonaws.com`}
   */
  endpoint?: string;
  /**
   * Address the bucket in the path (`<endpoint>/<bucket>/<key>`) rather than
   * in the host name (`<bucket>.<endpoint host>`).
   * @default {true with a custom endpoint, false for AWS}
   */
  pathStyle?: boolean;
  /** Key prefix for every block, without leading or trailing `/`. @default {""} */
  prefix?: string;
  /** Never written to. @default {false} */
  readOnly?: boolean;
  /** Stable id for rendezvous ordering. @default {`s3://<bucket>/<prefix>`, plus `?endpoint=` when set} */
  id?: string;
  /**
   * The fetch to use. @default {globalThis.fetch, and node:http for PUT bodies,
   * which the runtimes' fetch would copy}
   */
  fetch?: typeof fetch;
  /** Deadlines per request. */
  timeouts?: ServiceTimeouts;
  /** Keys per ListObjectsV2 page (1–1000). @default {1000} */
  listPageSize?: number;
}

/**
 * A block store on an S3-compatible bucket; see the module doc.
 *
 * @example Two buckets as two replicas (needs an S3 endpoint)
 * ```ts ignore
 * import { BlockClient } from "stowage";
 * import { S3Store } from "stowage/s3";
 *
 * const credentials = { accessKeyId: "AKIA…", secretAccessKey: "…", region: "eu-west-1" };
 * const client = new BlockClient({
 *   services: [
 *     new S3Store({ bucket: "blocks-a", ...credentials }),
 *     new S3Store({ bucket: "blocks-b", ...credentials }),
 *   ],
 *   copies: 2,
 * });
 * const { locator, replicas } = await client.put(new TextEncoder().encode("hello"));
 * ```
 * @example A service string; credentials come from AWS_ACCESS_KEY_ID and friends
 * ```ts
 * import { BlockClient } from "stowage";
 * import { S3Store } from "stowage/s3";
 * import assert from "node:assert/strict";
 * import process from "node:process";
 *
 * process.env.AWS_ACCESS_KEY_ID ??= "test:tester";
 * process.env.AWS_SECRET_ACCESS_KEY ??= "testing";
 * const client = new BlockClient({
 *   services: ["s3://blocks/stowage?endpoint=http://127.0.0.1:18080&region=us-east-1"],
 *   copies: 1,
 * });
 * assert.ok(client.services[0] instanceof S3Store);
 * ```
 */
export class S3Store implements BlockStore {
  readonly id: string;
  /** The bucket. */
  readonly bucket: string;
  /** The key prefix ("" for none). */
  readonly prefix: string;
  /** Always `"disk"`: one PUT stores one replica (the provider's own redundancy aside). */
  readonly type = "disk" as const;
  /** Whether writes are refused locally. */
  readonly readOnly: boolean;
  #base: URL;
  #credentials: {
    accessKeyId: string;
    secretAccessKey: string;
    sessionToken?: string;
    region: string;
  };
  #signingKeys = new Map<string, ArrayBuffer>();
  #fetch: typeof fetch | undefined;
  #timeouts: Required<ServiceTimeouts>;
  #pageSize: number;

  /**
   * Creates a {@linkcode S3Store}.
   *
   * @param options Bucket, credentials, endpoint and the rest; see {@linkcode S3StoreOptions}.
   * @throws {TypeError} On a missing bucket or credentials, or a bad endpoint.
   * @throws {RangeError} On a `listPageSize` outside 1–1000.
   */
  constructor(options: S3StoreOptions) {
    if (options === null || typeof options !== "object") {
      throw new TypeError("Cannot construct S3Store: expected an options object");
    }
    const { bucket } = options;
    if (typeof bucket !== "string" || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      throw new TypeError(
        `Cannot construct S3Store: bucket '${String(bucket)}' is not a valid bucket name`,
      );
    }
    for (const key of ["accessKeyId", "secretAccessKey"] as const) {
      if (typeof options[key] !== "string" || options[key] === "") {
        throw new TypeError(
          `Cannot construct S3Store for bucket '${bucket}': ${key} is required (or set AWS_${
            key === "accessKeyId" ? "ACCESS_KEY_ID" : "SECRET_ACCESS_KEY"
          })`,
        );
      }
    }
    const region = options.region ?? "us-east-1";
    const custom = options.endpoint !== undefined;
    let endpoint: URL;
    try {
      endpoint = new URL(options.endpoint ?? `https://s3.${region}.amazonaws.com`);
    } catch {
      throw new TypeError(
        `Cannot construct S3Store: endpoint '${String(options.endpoint)}' is not a URL`,
      );
    }
    if (endpoint.protocol !== "http:" && endpoint.protocol !== "https:") {
      throw new TypeError(`Cannot construct S3Store: endpoint '${endpoint.href}' is not http(s)`);
    }
    const prefix = (options.prefix ?? "").replace(/^\/+|\/+$/g, "");
    const pathStyle = options.pathStyle ?? custom;
    if (!endpoint.pathname.endsWith("/")) endpoint.pathname += "/";
    this.#base = pathStyle
      ? new URL(`${encodeURIComponent(bucket)}/`, endpoint)
      : new URL(endpoint.pathname, `${endpoint.protocol}//${bucket}.${endpoint.host}`);
    this.bucket = bucket;
    this.prefix = prefix;
    this.readOnly = options.readOnly ?? false;
    this.id = options.id ??
      `s3://${bucket}/${prefix}${custom ? `?endpoint=${endpoint.origin}` : ""}`;
    this.#credentials = {
      accessKeyId: options.accessKeyId,
      secretAccessKey: options.secretAccessKey,
      region,
    };
    if (options.sessionToken) this.#credentials.sessionToken = options.sessionToken;
    this.#fetch = options.fetch;
    this.#timeouts = serviceTimeouts(options.timeouts);
    this.#pageSize = options.listPageSize ?? 1000;
    if (!Number.isSafeInteger(this.#pageSize) || this.#pageSize < 1 || this.#pageSize > 1000) {
      throw new RangeError(
        `Cannot use listPageSize ${this.#pageSize}: expected an integer from 1 to 1000`,
      );
    }
  }

  /**
   * An S3Store from a service string:
   * `s3://<bucket>[/<prefix>][?endpoint=<url>&region=<r>&pathStyle=true|false]`.
   * Credentials come from `options`, else from the environment
   * (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
   * `AWS_REGION`, and `AWS_ENDPOINT_URL` for the endpoint).
   *
   * @example
   * ```ts
   * import { S3Store } from "stowage/s3";
   * import assert from "node:assert/strict";
   *
   * const store = S3Store.fromUrl("s3://blocks/stowage?endpoint=http://127.0.0.1:18080", {
   *   accessKeyId: "test:tester",
   *   secretAccessKey: "testing",
   * });
   * assert.ok(store.bucket === "blocks" && store.prefix === "stowage");
   * ```
   *
   * @throws {TypeError} When the string is not an `s3://` URL or credentials are missing.
   */
  static fromUrl(
    url: string,
    options: Partial<Omit<S3StoreOptions, "bucket" | "prefix">> = {},
  ): S3Store {
    const match = /^s3:\/\/([^/?#]+)(\/[^?#]*)?(\?[^#]*)?$/i.exec(String(url));
    if (match === null) {
      throw new TypeError(`Cannot use '${String(url)}' as an S3 service: expected s3://bucket/…`);
    }
    const query = new URLSearchParams(match[3] ?? "");
    const env = environment();
    const pick = (value: string | undefined, name: string): string | undefined =>
      value ?? query.get(name) ?? undefined;
    const resolved: S3StoreOptions = {
      ...options,
      bucket: decodeURIComponent(match[1]!),
      prefix: decodeURIComponent(match[2] ?? ""),
      accessKeyId: options.accessKeyId ?? env.AWS_ACCESS_KEY_ID ?? "",
      secretAccessKey: options.secretAccessKey ?? env.AWS_SECRET_ACCESS_KEY ?? "",
    };
    const sessionToken = options.sessionToken ?? env.AWS_SESSION_TOKEN;
    if (sessionToken) resolved.sessionToken = sessionToken;
    const region = pick(options.region, "region") ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
    if (region) resolved.region = region;
    const endpoint = pick(options.endpoint, "endpoint") ?? env.AWS_ENDPOINT_URL;
    if (endpoint) resolved.endpoint = endpoint;
    const pathStyle = options.pathStyle ?? query.get("pathStyle");
    if (pathStyle !== null && pathStyle !== undefined) {
      resolved.pathStyle = pathStyle === true || pathStyle === "true";
    }
    return new S3Store(resolved);
  }

  /** The object key of a block. */
  keyOf(locator: string | Locator): string {
    return this.#key(toLocator(locator).digest);
  }

  #key(digest: string): string {
    return `${this.prefix ? `${this.prefix}/` : ""}${digest.slice(0, 3)}/${digest}`;
  }

  /**
   * Creates the bucket (in the store's region); resolves `false` when it
   * already exists and is ours.
   * @throws {AuthError} When the credentials are refused.
   * @throws {ServiceError} When the name is taken by someone else (`BucketAlreadyExists`).
   */
  async createBucket(options: { signal?: AbortSignal } = {}): Promise<boolean> {
    const region = this.#credentials.region;
    // Outside us-east-1, AWS wants the region in the body as well as in the signature.
    const body = region === "us-east-1" ? undefined : new TextEncoder().encode(
      `<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
        `<LocationConstraint>${region}</LocationConstraint></CreateBucketConfiguration>`,
    );
    const response = await this.#request("PUT", "", {
      signal: options.signal,
      action: `create bucket '${this.bucket}'`,
      accept: [409],
      ...(body === undefined ? {} : { body, headers: { "content-type": "application/xml" } }),
    });
    if (response.status === 409) {
      // BucketAlreadyExists means somebody else's: that is an error.
      if (s3Error(response.body).code === "BucketAlreadyOwnedByYou") return false;
      throw this.#statusError(response, `create bucket '${this.bucket}'`);
    }
    return true;
  }

  async put(bytes: Uint8Array, options: PutOptions = {}): Promise<PutResult> {
    if (this.readOnly) {
      throw new ServiceError(this.id, "Cannot put block: the store is read-only", {
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
    const loc = toLocator(locator);
    if (isEmptyBlock(loc)) return { locator, replicas: 1 };
    const headers: Record<string, string> = { "content-type": "application/octet-stream" };
    // The server verifies the body against the block's own digest, at no cost to us.
    if (loc.algorithm === "sha256") headers["x-amz-content-sha256"] = loc.digest;
    else headers["content-md5"] = hexToBase64(loc.digest);
    await this.#request("PUT", this.keyOf(loc), {
      headers,
      body: bytes,
      signal: options.signal,
      onProgress: options.onProgress,
      action: `put block '${locator}'`,
    });
    return { locator, replicas: 1 };
  }

  async get(locator: string | Locator, options: GetOptions = {}): Promise<Uint8Array> {
    const loc = toLocator(locator);
    const [start, end] = resolveRange(options.range, loc.size, loc.stripped);
    options.signal?.throwIfAborted();
    if (isEmptyBlock(loc)) return new Uint8Array(0);
    const headers: Record<string, string> = {};
    if (start !== 0 || end !== loc.size) {
      if (end === start) return new Uint8Array(0);
      headers.range = `bytes=${start}-${end - 1}`;
    }
    const response = await this.#request("GET", this.keyOf(loc), {
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
    return await falseIfNotFound(this.#request("HEAD", this.keyOf(loc), {
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
    // S3 answers 204 whether or not the key existed; HEAD first tells which.
    if (!(await this.has(loc, options))) return false;
    await this.#request("DELETE", this.keyOf(loc), {
      signal: options.signal,
      action: `delete block '${loc.stripped}'`,
    });
    return true;
  }

  /**
   * Lists blocks in digest order through ListObjectsV2, page by page; keys
   * under the prefix that are not blocks are skipped. `mtime` is the object's
   * LastModified.
   */
  async *list(options: ListOptions = {}): AsyncGenerator<BlockInfo> {
    const prefix = options.prefix ?? "";
    checkPrefix(prefix);
    const base = this.prefix ? `${this.prefix}/` : "";
    const keyPrefix = prefix.length >= 3
      ? `${base}${prefix.slice(0, 3)}/${prefix}`
      : `${base}${prefix}`;
    let token: string | undefined;
    do {
      const query = new URLSearchParams({
        "list-type": "2",
        "max-keys": String(this.#pageSize),
        prefix: keyPrefix,
      });
      if (token !== undefined) query.set("continuation-token", token);
      const response = await this.#request("GET", `?${query}`, {
        signal: options.signal,
        action: `list bucket '${this.bucket}'`,
      });
      const xml = new TextDecoder().decode(response.body);
      for (const entry of xmlElements(xml, "Contents")) {
        const key = xmlText(entry, "Key") ?? "";
        // A block's key is exactly #key(digest); anything else under the prefix is not a block.
        const digest = /([0-9a-f]{32}|[0-9a-f]{64})$/.exec(key)?.[1];
        if (digest === undefined || key !== this.#key(digest)) continue;
        const size = Number(xmlText(entry, "Size"));
        if (!Number.isSafeInteger(size)) continue;
        yield {
          locator: formatLocator({ digest, size }),
          size,
          mtime: Date.parse(xmlText(entry, "LastModified") ?? "") || 0,
        };
      }
      const truncated = xmlText(xml, "IsTruncated") === "true";
      token = truncated ? xmlText(xml, "NextContinuationToken") : undefined;
      if (truncated && token === undefined) {
        throw new ServiceError(
          this.id,
          `Cannot list bucket '${this.bucket}': a truncated page has no NextContinuationToken`,
          { retryable: false },
        );
      }
    } while (token !== undefined);
  }

  /**
   * A chunk index kept in the bucket, under `<prefix>/chunks/`, for
   * content-chunked writes (`BlockClient` uses it when this store is its only
   * writable service). Each of its 4096 shards, and its journal (`chunks/log/`,
   * where every add goes first: one PUT a stored block), is a few objects
   * `chunks/<abc>/<time>-<random>`, one per append, merged into one when a
   * read finds more than 16; block listings skip them.
   *
   * @param options Memory the loaded shards may take, bytes; records the journal
   *   holds before a merge. @default {{ maxMemory: 67108864, journalRecords: 65536 }}
   * @returns The index.
   * @example
   * ```ts
   * import { S3Store } from "stowage/s3";
   *
   * const store = new S3Store({
   *   bucket: "blocks",
   *   endpoint: "http://127.0.0.1:9000",
   *   accessKeyId: "key",
   *   secretAccessKey: "secret",
   * });
   * const index = store.chunkIndex();
   * if (!index.id.endsWith("/chunks")) throw new Error("the index lives in the bucket");
   * ```
   */
  chunkIndex(options: { maxMemory?: number; journalRecords?: number } = {}): ChunkIndex {
    const base = `${this.prefix ? `${this.prefix}/` : ""}chunks/`;
    const listKeys = (prefix: string, delimiter?: string): Promise<string[]> =>
      this.#listKeys(prefix, delimiter, "the chunk index");
    const putPiece = async (name: string, records: Uint8Array): Promise<void> => {
      const random = crypto.getRandomValues(new Uint8Array(8));
      const piece = `${String(Date.now()).padStart(15, "0")}-${
        [...random].map((b) => b.toString(16).padStart(2, "0")).join("")
      }`;
      await this.#request("PUT", `${base}${name}/${piece}`, {
        headers: { "content-type": "application/octet-stream" },
        body: records,
        action: `append to chunk index shard '${name}' in bucket '${this.bucket}'`,
      });
    };
    const deleteKeys = async (keys: readonly string[]): Promise<void> => {
      for (const key of keys) {
        await this.#request("DELETE", key, {
          action: `delete chunk index piece '${key}' in bucket '${this.bucket}'`,
        });
      }
    };
    const storage: ShardStorage = {
      id: `${this.id.replace(/\?.*$/, "").replace(/\/$/, "")}/chunks`,
      read: async (name) => {
        const keys = await listKeys(`${base}${name}/`);
        const pieces: Uint8Array[] = [];
        for (const key of keys) {
          const response = await this.#request("GET", key, {
            action: `read chunk index piece '${key}' in bucket '${this.bucket}'`,
          });
          pieces.push(response.body);
        }
        const out = concat(pieces);
        // Many small pieces: merge them, the new one first, then drop those read.
        if (keys.length > 16) {
          await putPiece(name, out);
          await deleteKeys(keys);
        }
        return out;
      },
      append: putPiece,
      replace: async (name, records) => {
        const old = await listKeys(`${base}${name}/`);
        await putPiece(name, records);
        await deleteKeys(old);
      },
      names: async () =>
        (await listKeys(base, "/"))
          .map((p) => p.slice(base.length).replace(/\/$/, ""))
          .filter((n) => /^[0-9a-f]{3}$/.test(n)),
    };
    return new ShardedChunkIndex(storage, options);
  }

  /**
   * A key index in the bucket, beside the blocks: one object per key under
   * `<prefix>/keys/` (see `FileKeyIndex` for the layout). A PUT replaces an
   * object whole, so an entry is never read half-written.
   *
   * @param options The slot hash (tests only).
   * @returns The index.
   *
   * @example
   * ```ts
   * import { S3Store } from "stowage/s3";
   *
   * const store = new S3Store({
   *   bucket: "blocks",
   *   endpoint: "http://127.0.0.1:9000",
   *   accessKeyId: "key",
   *   secretAccessKey: "secret",
   * });
   * const index = store.keyIndex();
   * if (!index.id.endsWith("/keys")) throw new Error("the index lives in the bucket");
   * ```
   */
  keyIndex(options: KeyIndexOptions = {}): KeyIndex {
    const base = `${this.prefix ? `${this.prefix}/` : ""}keys/`;
    const listKeys = (prefix: string): Promise<string[]> =>
      this.#listKeys(prefix, undefined, "the key index");
    const storage: SlotStorage = {
      id: `${this.id.replace(/\?.*$/, "").replace(/\/$/, "")}/keys`,
      read: async (name, signal) => {
        const response = await this.#request("GET", `${base}${name}`, {
          signal,
          action: `read key entry '${name}' in bucket '${this.bucket}'`,
          accept: [404],
        });
        return response.status === 404 ? undefined : response.body;
      },
      write: async (name, bytes, signal) => {
        await this.#request("PUT", `${base}${name}`, {
          headers: { "content-type": "application/json" },
          body: bytes,
          signal,
          action: `write key entry '${name}' in bucket '${this.bucket}'`,
        });
      },
      remove: async (name) => {
        const response = await this.#request("DELETE", `${base}${name}`, {
          action: `remove key entry '${name}' in bucket '${this.bucket}'`,
          accept: [404],
        });
        return response.status !== 404;
      },
      names: async function* (this: void) {
        for (const key of await listKeys(base)) yield key.slice(base.length);
      },
    };
    return new SlotKeyIndex(storage, options);
  }

  /** Every object key under a prefix (or the common prefixes, with a delimiter), sorted. */
  async #listKeys(prefix: string, delimiter: string | undefined, what: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const query = new URLSearchParams({ "list-type": "2", prefix });
      if (delimiter !== undefined) query.set("delimiter", delimiter);
      if (token !== undefined) query.set("continuation-token", token);
      const response = await this.#request("GET", `?${query}`, {
        action: `list ${what} in bucket '${this.bucket}'`,
      });
      const xml = new TextDecoder().decode(response.body);
      const element = delimiter === undefined ? "Contents" : "CommonPrefixes";
      const field = delimiter === undefined ? "Key" : "Prefix";
      for (const entry of xmlElements(xml, element)) {
        const key = xmlText(entry, field);
        if (key !== undefined) keys.push(key);
      }
      token = xmlText(xml, "IsTruncated") === "true"
        ? xmlText(xml, "NextContinuationToken")
        : undefined;
    } while (token !== undefined);
    return keys.sort();
  }

  /** One signed request; maps S3 errors to Stowage's. */
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
      accept?: number[];
    },
  ): Promise<Exchange> {
    options.signal?.throwIfAborted();
    const url = new URL(path.startsWith("?") ? path : encodeKey(path), this.#base);
    const headers: Record<string, string> = {
      // Never the body's SHA-256 computed here: Content-MD5 or the block digest covers it.
      "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
      ...options.headers,
    };
    const { AwsV4Signer } = await loadSigner();
    const signer = new AwsV4Signer({
      method,
      url: url.href,
      headers,
      ...this.#credentials,
      service: "s3",
      cache: this.#signingKeys,
    });
    const signed = await signer.sign();
    const signedHeaders: Record<string, string> = {};
    signed.headers.forEach((value, name) => (signedHeaders[name] = value));
    const response = await exchange({
      service: this.id,
      method,
      url: signed.url,
      headers: signedHeaders,
      body: options.body,
      onBodyProgress: options.onProgress,
      signal: options.signal,
      timeouts: this.#timeouts,
      fetch: this.#fetch,
      action: options.action,
    });
    const status = response.status;
    if ((status >= 200 && status <= 299) || options.accept?.includes(status)) return response;
    if (status === 404 && options.notFound !== undefined) {
      const { code } = s3Error(response.body);
      // HEAD has no body to tell NoSuchKey from NoSuchBucket.
      if (code === undefined || code === "NoSuchKey") {
        throw new BlockNotFoundError(options.notFound, `bucket '${this.bucket}' (${this.id})`);
      }
    }
    throw this.#statusError(response, options.action);
  }

  #statusError(response: Exchange, action: string): Error {
    const { status } = response;
    const { code, message } = s3Error(response.body);
    const detail = `HTTP ${status}${code ? ` ${code}` : ""}${message ? `: ${message}` : ""}`;
    if (status === 401 || status === 403) {
      const details: { status: number; code?: string } = { status };
      if (code !== undefined) details.code = code;
      return new AuthError(
        this.id,
        `Cannot ${action}: access to bucket '${this.bucket}' refused (${detail})`,
        details,
      );
    }
    if (status === 507 || code === "QuotaExceeded") {
      return new StoreFullError(`Cannot ${action}: ${detail} (bucket '${this.bucket}')`, {
        status,
      });
    }
    const retryable = isRetryableStatus(status) || code === "SlowDown" ||
      code === "RequestTimeout" || code === "InternalError" || code === "BadDigest";
    const where = code === "NoSuchBucket" ? ` (bucket '${this.bucket}' does not exist)` : "";
    return new ServiceError(this.id, `Cannot ${action}: ${detail}${where}`, { status, retryable });
  }
}

/** `Code` and `Message` of an S3 XML error body, when there is one. */
function s3Error(body: Uint8Array): { code?: string; message?: string } {
  if (body.length === 0) return {};
  const xml = new TextDecoder().decode(body.subarray(0, 4096));
  const out: { code?: string; message?: string } = {};
  const code = xmlText(xml, "Code");
  const message = xmlText(xml, "Message");
  if (code !== undefined) out.code = code;
  if (message !== undefined) out.message = message.slice(0, 200);
  return out;
}

/** The text of the first `<name>` element, entities decoded. */
function xmlText(xml: string, name: string): string | undefined {
  const match = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  return match === null ? undefined : decodeEntities(match[1]!);
}

/** The inner XML of every `<name>` element. */
function* xmlElements(xml: string, name: string): Generator<string> {
  const pattern = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`, "g");
  for (const match of xml.matchAll(pattern)) yield match[1]!;
}

function decodeEntities(text: string): string {
  return text.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, entity: string) => {
    switch (entity) {
      case "lt":
        return "<";
      case "gt":
        return ">";
      case "amp":
        return "&";
      case "quot":
        return '"';
      case "apos":
        return "'";
      default:
        return String.fromCodePoint(
          entity[1] === "x" ? parseInt(entity.slice(2), 16) : Number(entity.slice(1)),
        );
    }
  });
}

function encodeKey(key: string): string {
  return key.split("/").map(encodeURIComponent).join("/");
}

function hexToBase64(hex: string): string {
  let binary = "";
  for (let i = 0; i < hex.length; i += 2) {
    binary += String.fromCharCode(parseInt(hex.slice(i, i + 2), 16));
  }
  return btoa(binary);
}

function environment(): Record<string, string | undefined> {
  const process = (globalThis as { process?: { env?: Record<string, string | undefined> } })
    .process;
  return process?.env ?? {};
}

let signerModule: Promise<typeof import("npm:aws4fetch@^1.0.20")> | undefined;

/**
 * aws4fetch, loaded on the first signed request rather than with the module:
 * `storeFromUrl` knows `s3://`, so this module loads with every client, and a
 * process that never talks to S3 should not pay for the signer.
 */
function loadSigner(): Promise<typeof import("npm:aws4fetch@^1.0.20")> {
  signerModule ??= import("npm:aws4fetch@^1.0.20");
  return signerModule;
}
