/**
 * Staging a URL: its body is stored once, as blocks, and recorded under the
 * URL in a key index, so that many jobs read it from the store without
 * fetching it again (`BlockClient.stage`, `stowage fetch`).
 *
 * - **Already fetched**: a second stage sends a conditional request
 *   (`If-None-Match`, `If-Modified-Since`); on `304` no body moves and the
 *   recorded manifest is returned, once its blocks are found still stored.
 *   `offline` answers from the index alone; `refresh` fetches in full.
 * - **Changed**: a changed object is fetched again and the key points at the
 *   new manifest; the old one stays readable while its blocks exist.
 * - **Cut short**: every block is recorded in the key's entry the moment it
 *   is stored, with the origin's validators. A dropped connection resumes
 *   with a `Range` request for what is missing (`If-Range`, so a changed
 *   object is never stitched from two versions: it starts again), within the
 *   retry policy; a process killed half-way resumes the same way on the next
 *   stage of the URL. A server without ranges starts over, with a warning.
 * - **Verified**: a checksum the origin gives (`Content-MD5`, `Digest`,
 *   `Repr-Digest`, an S3 ETag that is an MD5) is checked against the bytes
 *   stored; a mismatch records nothing.
 * - **Credentials**: from the URL's userinfo, an `Authorization` header, or
 *   a netrc file (`netrc: true`); they go in request headers only — the key
 *   is the URL without userinfo, and no message names them.
 *
 * @module
 */
import type { BlockPutter } from "../model/block_putter.ts";
import { DEFAULT_BLOCK_SIZE } from "../model/block_store.ts";
import { createHasher, type Hasher } from "../model/digest.ts";
import {
  AuthError,
  BlockNotFoundError,
  ChecksumMismatchError,
  DeadlineError,
  KeyNotFoundError,
  ServiceError,
} from "../model/errors.ts";
import type { KeyEntry, KeyIndex, KeyValidators, StoredPiece } from "../model/key_index.ts";
import { Manifest } from "../model/manifest.ts";
import {
  backoffDelay,
  isRetryableStatus,
  type RetryOptions,
  retryPolicy,
  sleep,
} from "../model/retry.ts";
import { type Netrc, netrcFor, readNetrc } from "../platform/_netrc.ts";
import { gapsOf, manifestOfPieces, RangeDropped, writeRanges } from "../write/_range_writer.ts";

/** Options for {@linkcode stage} (`BlockClient.stage`). */
export interface StageOptions {
  /** Request headers, e.g. `Authorization` (never recorded). */
  headers?: Record<string, string>;
  /** Aborts the transfer; what was stored stays recorded, to resume from. */
  signal?: AbortSignal;
  /** Fetch in full, ignoring what the index holds. @default {false} */
  refresh?: boolean;
  /** Answer from the index alone; never touch the network. @default {false} */
  offline?: boolean;
  /**
   * Credentials per host from a netrc file: `true` for `$NETRC`, else
   * `~/.netrc`; a path for that file. @default {false}
   */
  netrc?: boolean | string;
  /** The file's name in the manifest. @default {the URL's last path segment} */
  name?: string;
  /** Bytes per block. @default {67108864} (64 MiB) */
  blockSize?: number;
  /** Blocks being stored at once. @default {4} */
  blocksInFlight?: number;
  /** Replicas per block. @default {the client's copies} */
  copies?: number;
  /** Tries after a dropped connection or a retryable status. @default {{ rounds: 6, baseDelay: 500 }} */
  retry?: RetryOptions;
  /** A request that sends no headers, or no body bytes, for this long is dropped (and resumed), ms. @default {60000} */
  idleTimeout?: number;
  /** The fetch to use. @default {globalThis.fetch} */
  fetch?: typeof fetch;
  /** Told as bytes arrive. */
  onProgress?: (progress: StageProgress) => void;
  /** Told what the caller should know: a restart, a resume. @default {console.warn} */
  onWarning?: (message: string) => void;
  /** The key index. @default {the client's} */
  keyIndex?: KeyIndex;
}

/** Progress of a stage. */
export interface StageProgress {
  /** Body bytes received by this call. */
  bytesFetched: number;
  /** Bytes of the object stored, counting those stored before (a resume). */
  bytesStored: number;
  /** The object's size, once known. */
  bytesTotal: number | undefined;
}

/** What a stage did. */
export interface StageResult {
  /** The object's manifest, one file. */
  manifest: Manifest;
  /** The key it is recorded under: the URL without userinfo or fragment. */
  key: string;
  /** The key's entry, as recorded. */
  entry: KeyEntry;
  /** Body bytes transferred by this call (0 when the stored copy was current). */
  fetched: number;
  /** Whether the stored copy was used as it was (a 304, or `offline`). */
  reused: boolean;
  /** Whether it continued an earlier, interrupted transfer. */
  resumed: boolean;
  /** Times it started over: the object changed, or the server has no ranges. */
  restarts: number;
}

/** What `stage` needs of a client: `BlockClient` is one. */
export interface StageClient extends BlockPutter {
  /** Where keys are recorded. */
  readonly keyIndex: KeyIndex | undefined;
  /** Reads a manifest back (to check a checksum after a resumed transfer). */
  readable(manifest: Manifest): ReadableStream<Uint8Array>;
}

/**
 * Stores a URL's body and records it under its key; see the module doc.
 *
 * @param client The client that stores the blocks.
 * @param url An `http:` or `https:` URL.
 * @param options Headers, signal, refresh, offline, netrc, block size.
 * @returns The manifest, the key and what moved.
 * @throws {TypeError} On a URL that is not http(s), or a client without a key index.
 * @throws {AuthError} When the origin answers 401 or 403.
 * @throws {ServiceError} When the origin fails for good (404, or retries exhausted).
 * @throws {ChecksumMismatchError} When the bytes do not match the origin's checksum.
 * @throws {KeyNotFoundError} With `offline`, for a URL never fetched.
 * @throws {BlockNotFoundError} With `offline`, when the stored blocks are gone.
 *
 * @example Staging a URL twice: the second time, no body moves
 * ```ts
 * import { BlockClient, MemoryStore } from "stowage";
 * import assert from "node:assert/strict";
 * import { createServer } from "node:http";
 *
 * const body = "staged once, read many times";
 * const origin = createServer((req, res) => {
 *   if (req.headers["if-none-match"] === '"v1"') return res.writeHead(304).end();
 *   res.writeHead(200, { etag: '"v1"', "content-length": body.length }).end(body);
 * });
 * await new Promise<void>((resolve) => origin.listen(0, "127.0.0.1", resolve));
 * const url = `http://127.0.0.1:${(origin.address() as { port: number }).port}/data.txt`;
 *
 * const client = new BlockClient({ services: [new MemoryStore()] });
 * const first = await client.stage(url);
 * const second = await client.stage(url);
 * assert.equal(first.fetched, body.length);
 * assert.ok(second.reused && second.fetched === 0);
 * assert.equal(await new Response(client.readable(second.manifest)).text(), body);
 * origin.close();
 * ```
 */
export async function stage(
  client: StageClient,
  url: string | URL,
  options: StageOptions = {},
): Promise<StageResult> {
  const target = parseUrl(url);
  const index = options.keyIndex ?? client.keyIndex;
  if (index === undefined) {
    throw new TypeError(
      `Cannot stage '${target.key}': the client has no key index (give one with the keyIndex option)`,
    );
  }
  const run = new StageRun(client, index, target, options);
  return await run.run();
}

/** A URL split into its key and its credentials. */
interface Target {
  key: string;
  url: URL;
  userinfo: string | undefined;
}

function parseUrl(input: string | URL): Target {
  let url: URL;
  try {
    url = new URL(String(input));
  } catch {
    throw new TypeError(`Cannot stage: '${redact(String(input))}' is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`Cannot stage '${redact(url.href)}': only http: and https: URLs`);
  }
  const userinfo = url.username !== "" || url.password !== ""
    ? `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`
    : undefined;
  url.username = "";
  url.password = "";
  url.hash = "";
  return { key: url.href, url, userinfo };
}

/** A URL for a message: userinfo removed, however malformed the rest. */
function redact(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, "$1");
}

/**
 * The transfer starts over with `response`, a whole 200: the object changed,
 * or ranges are not served.
 */
class Restart {
  constructor(readonly response: Response, readonly reason: string) {}
}

/** The state of one stage call. */
class StageRun {
  #client: StageClient;
  #index: KeyIndex;
  #target: Target;
  #options: StageOptions;
  #fetch: typeof fetch;
  #netrc: Netrc | undefined;
  #warn: (message: string) => void;
  #idle: number;
  #entry: KeyEntry | undefined;
  #fetched = 0;
  #stored = 0;
  #size: number | undefined;
  #validators: KeyValidators = {};
  #pieces: StoredPiece[] = [];
  #started = Date.now();
  /** A full 200 response waiting to be used as the range from 0. */
  #pending: Response | undefined;
  /** Hashes the object as it streams, while it comes in one piece from byte 0. */
  #inline: { hasher: Hasher; bytes: number } | undefined;
  #noRanges = false;
  #restarts = 0;
  #resumed = false;

  constructor(client: StageClient, index: KeyIndex, target: Target, options: StageOptions) {
    this.#client = client;
    this.#index = index;
    this.#target = target;
    this.#options = options;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#warn = options.onWarning ?? ((message) => console.warn(`stowage: ${message}`));
    this.#idle = options.idleTimeout ?? 60_000;
    if (!(this.#idle > 0)) {
      throw new RangeError(
        `Cannot stage: idleTimeout must be > 0 ms: current value is ${this.#idle}`,
      );
    }
  }

  async run(): Promise<StageResult> {
    const { key } = this.#target;
    const signal = this.#options.signal;
    signal?.throwIfAborted();
    if (this.#options.offline && this.#options.refresh) {
      throw new TypeError(`Cannot stage '${key}': offline and refresh contradict each other`);
    }
    this.#entry = await this.#index.get(key, signal === undefined ? {} : { signal });
    const entry = this.#entry;
    if (this.#options.offline) {
      if (entry === undefined || entry.manifest === "") {
        throw new KeyNotFoundError(
          this.#index.id,
          key,
          entry?.partial ? "its fetch never finished" : "it was never fetched",
        );
      }
      const missing = await this.#missingBlock(entry);
      if (missing !== undefined) {
        throw new BlockNotFoundError(
          missing,
          `the store (key '${key}' was fetched, but its blocks are gone)`,
        );
      }
      return await this.#reuse(entry, false);
    }
    if (this.#options.netrc) {
      this.#netrc = await readNetrc(
        typeof this.#options.netrc === "string" ? this.#options.netrc : undefined,
      );
    }
    const partial = entry?.partial;
    const resumable = partial !== undefined && !this.#options.refresh &&
      resumeValidator(partial.validators) !== undefined &&
      partial.algorithm === this.#client.algorithm && partial.copies >= this.#copies();
    // An unfinished transfer of a newer version goes first: its If-Range
    // tells whether the object is still that version (else it starts over).
    if (entry !== undefined && entry.manifest !== "" && !this.#options.refresh && !resumable) {
      const conditional: Record<string, string> = {};
      if (entry.validators?.etag) conditional["if-none-match"] = entry.validators.etag;
      if (entry.validators?.lastModified) {
        conditional["if-modified-since"] = entry.validators.lastModified;
      }
      if (Object.keys(conditional).length > 0) {
        const response = await this.#checkRequest(conditional);
        if (response.status === 304) {
          await response.body?.cancel().catch(() => {});
          if (await this.#missingBlock(entry) === undefined) return await this.#reuse(entry, true);
          this.#warn(`the blocks of '${key}' are gone from the store; fetching it again`);
        } else if (response.status === 200) {
          this.#accept(response);
        } else {
          throw await this.#statusError(response, "fetch");
        }
      }
    }
    if (this.#pending === undefined && resumable) {
      this.#pieces = partial.pieces.slice();
      this.#validators = partial.validators;
      this.#size = partial.validators.contentLength;
      this.#started = partial.started;
      this.#stored = this.#pieces.reduce((n, p) => n + p.size, 0);
      this.#resumed = this.#pieces.length > 0;
    }
    await this.#transfer();
    return await this.#finish();
  }

  /** The stored copy is current: touch the entry and return it. */
  async #reuse(entry: KeyEntry, confirmed: boolean): Promise<StageResult> {
    const now = Date.now();
    const updated: KeyEntry = { ...entry, accessed: now };
    if (confirmed) updated.fetched = now;
    await this.#index.set(updated);
    return {
      manifest: Manifest.parse(entry.manifest),
      key: entry.key,
      entry: updated,
      fetched: 0,
      reused: true,
      resumed: false,
      restarts: 0,
    };
  }

  /** The first block of the entry's manifest no service holds, if any. */
  async #missingBlock(entry: KeyEntry): Promise<string | undefined> {
    const locators = new Set(
      Manifest.parse(entry.manifest).files.flatMap((f) => f.segments.map((s) => s.locator)),
    );
    for (const locator of locators) {
      const signal = this.#options.signal;
      const found = await this.#client.replicas(locator, {
        enough: 1,
        ...(signal === undefined ? {} : { signal }),
      });
      if (found < 1) return locator;
    }
    return undefined;
  }

  /** Stores the gaps, resuming after drops and starting over after changes. */
  async #transfer(): Promise<void> {
    const policy = retryPolicy(this.#options.retry ?? { rounds: 6, baseDelay: 500 });
    let round = 1;
    for (;;) {
      try {
        await writeRanges({
          putter: this.#client,
          size: () => this.#size,
          pieces: this.#pieces,
          open: (start, end) => this.#open(start, end),
          record: (pieces) => this.#record(pieces),
          ended: (size) => {
            this.#size = size;
            this.#validators = { ...this.#validators, contentLength: size };
          },
          blockSize: this.#options.blockSize ?? DEFAULT_BLOCK_SIZE,
          ...(this.#options.blocksInFlight === undefined
            ? {}
            : { blocksInFlight: this.#options.blocksInFlight }),
          ...(this.#options.copies === undefined ? {} : { copies: this.#options.copies }),
          ...(this.#options.signal === undefined ? {} : { signal: this.#options.signal }),
          // After a restart or a resume, blocks may be stored already: ask before sending.
          skipExisting: this.#restarts > 0 || this.#resumed,
          onRead: (n) => {
            this.#fetched += n;
            this.#stored += n;
            this.#progress();
          },
        });
        return;
      } catch (error) {
        this.#options.signal?.throwIfAborted();
        if (error instanceof Restart) {
          this.#restarts++;
          this.#warn(`${error.reason}; starting '${this.#target.key}' over`);
          if (this.#restarts > policy.rounds) {
            await error.response.body?.cancel().catch(() => {});
            throw new ServiceError(
              this.#target.key,
              `started over ${this.#restarts} times, the last because ${error.reason}`,
              { retryable: true },
            );
          }
          this.#pieces.length = 0;
          this.#stored = 0;
          this.#accept(error.response);
          continue;
        }
        const retryable = error instanceof RangeDropped ||
          (error instanceof ServiceError && error.retryable && !(error instanceof AuthError));
        if (!retryable || round >= policy.rounds) {
          throw error instanceof RangeDropped
            ? new ServiceError(
              this.#target.key,
              `the connection dropped ${round} time(s) (${
                errorText(error.cause)
              }); the blocks stored so far are recorded, and the next stage resumes from them`,
              { retryable: true },
              { cause: error.cause },
            )
            : error;
        }
        round++;
        this.#inline = undefined;
        const stored = this.#pieces.reduce((n, p) => n + p.size, 0);
        this.#warn(
          `${
            errorText(error instanceof RangeDropped ? error.cause : error)
          }; resuming '${this.#target.key}' from ${stored} bytes stored (try ${round} of ${policy.rounds})`,
        );
        await sleep(backoffDelay(policy, round - 1), this.#options.signal);
      }
    }
  }

  /** Opens bytes `[start, end)`: the pending full response, or a (ranged) GET. */
  async #open(start: number, end: number | undefined): Promise<ReadableStream<Uint8Array>> {
    if (this.#pending !== undefined) {
      const response = this.#pending;
      this.#pending = undefined;
      if (start === 0 && this.#pieces.length === 0) return this.#body(response, 0);
      await response.body?.cancel().catch(() => {});
    }
    const validator = resumeValidator(this.#validators);
    const ranged = start > 0 || end !== undefined && end !== this.#size;
    if (this.#noRanges && ranged) {
      throw new Restart(await this.#fullGet(), "the server does not serve ranges");
    }
    if (!ranged || validator === undefined) {
      if (ranged) {
        throw new Restart(
          await this.#fullGet(),
          "the origin gives no strong ETag or Last-Modified to resume against",
        );
      }
      // The whole object, no piece stored: whatever version the origin has now.
      const response = await this.#fullGet();
      this.#accept(response);
      this.#pending = undefined;
      return this.#body(response, 0);
    }
    const range = `bytes=${start}-${end === undefined ? "" : end - 1}`;
    const response = await this.#request({ range, "if-range": validator }, "resume");
    if (response.status === 200) {
      throw new Restart(
        response,
        sameVersion(this.#validators, response.headers)
          ? (this.#noRanges = true, `the server ignored a Range request (it sent the whole object)`)
          : "the object changed",
      );
    }
    if (response.status === 416) {
      await response.body?.cancel().catch(() => {});
      throw new Restart(await this.#fullGet(), "the object is shorter than before");
    }
    if (response.status !== 206) throw await this.#statusError(response, "resume");
    const contentRange = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(
      response.headers.get("content-range") ?? "",
    );
    if (
      contentRange === null || Number(contentRange[1]) !== start ||
      (end !== undefined && Number(contentRange[2]) !== end - 1) ||
      (this.#size !== undefined && contentRange[3] !== "*" &&
        Number(contentRange[3]) !== this.#size) ||
      !sameVersion(this.#validators, response.headers)
    ) {
      // Not the range of the version pinned: start over from a whole 200.
      await response.body?.cancel().catch(() => {});
      throw new Restart(
        await this.#fullGet(),
        "the object changed (its Content-Range or validators moved)",
      );
    }
    this.#inline = undefined;
    return this.#body(response, start);
  }

  /** A GET of the whole object; any status but 200 is a typed error. */
  async #fullGet(): Promise<Response> {
    const response = await this.#request({}, "fetch");
    if (response.status !== 200) throw await this.#statusError(response, "fetch");
    return response;
  }

  /** Takes a full 200 response as the version being stored. */
  #accept(response: Response): void {
    const headers = response.headers;
    const length = headers.get("content-length");
    const encoded = (headers.get("content-encoding") ?? "identity") !== "identity";
    this.#size = length !== null && !encoded && /^\d+$/.test(length) ? Number(length) : undefined;
    const validators: KeyValidators = {};
    const etag = headers.get("etag");
    const lastModified = headers.get("last-modified");
    if (etag !== null) validators.etag = etag;
    if (lastModified !== null) validators.lastModified = lastModified;
    if (this.#size !== undefined) validators.contentLength = this.#size;
    const checksum = encoded ? undefined : checksumOf(headers);
    if (checksum !== undefined) validators.checksum = checksum;
    this.#validators = validators;
    this.#started = Date.now();
    this.#inline = checksum === undefined
      ? undefined
      : { hasher: createHasher(checksum.algorithm), bytes: 0 };
    this.#pending = response;
  }

  /** A response's body with an idle deadline, hashed inline while it is the whole object. */
  #body(response: Response, start: number): ReadableStream<Uint8Array> {
    const body = response.body;
    if (body === null) return new ReadableStream({ start: (c) => c.close() });
    const reader = body.getReader();
    const inline = start === 0 ? this.#inline : undefined;
    const idle = this.#idle;
    const key = this.#target.key;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const deadline = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new DeadlineError(key, "idle", idle)), idle);
        });
        try {
          const result = await Promise.race([reader.read(), deadline]);
          if (result.done) return controller.close();
          if (inline !== undefined) {
            inline.hasher.update(result.value);
            inline.bytes += result.value.length;
          }
          controller.enqueue(result.value);
        } catch (error) {
          await reader.cancel(error).catch(() => {});
          controller.error(error);
        } finally {
          clearTimeout(timer);
        }
      },
      cancel: async (reason) => {
        await reader.cancel(reason).catch(() => {});
      },
    }, { highWaterMark: 0 });
  }

  /** Records the pieces stored so far, with the version's validators, in the key's entry. */
  async #record(pieces: readonly StoredPiece[]): Promise<void> {
    const now = Date.now();
    const base: KeyEntry = this.#entry ?? {
      key: this.#target.key,
      manifest: "",
      size: 0,
      algorithm: this.#client.algorithm,
      created: now,
      fetched: 0,
      accessed: now,
    };
    this.#entry = {
      ...base,
      partial: {
        pieces: [...pieces],
        validators: this.#validators,
        blockSize: this.#options.blockSize ?? DEFAULT_BLOCK_SIZE,
        algorithm: this.#client.algorithm,
        copies: this.#copies(),
        started: this.#started,
      },
    };
    await this.#index.set(this.#entry);
  }

  /** Replicas per block this stage stores. */
  #copies(): number {
    return this.#options.copies ?? this.#client.copies;
  }

  /** Checks the checksum, then records the manifest as the key's. */
  async #finish(): Promise<StageResult> {
    const key = this.#target.key;
    const size = this.#size ?? this.#pieces.reduce((n, p) => n + p.size, 0);
    const manifest = manifestOfPieces(this.#options.name ?? nameOf(this.#target.url), this.#pieces);
    if (gapsOf(this.#pieces, size).length > 0 || manifest.files[0]!.size !== size) {
      throw new ServiceError(key, `the stored pieces do not cover the ${size} bytes`, {
        retryable: true,
      });
    }
    const checksum = this.#validators.checksum;
    if (checksum !== undefined) {
      let actual: string;
      if (this.#inline !== undefined && this.#inline.bytes === size) {
        actual = this.#inline.hasher.digest();
      } else {
        // Resumed: the bytes came in several responses; read the stored copy back.
        const hasher = createHasher(checksum.algorithm);
        for await (const chunk of this.#client.readable(manifest)) hasher.update(chunk);
        actual = hasher.digest();
      }
      if (actual !== checksum.hex) {
        const entry = this.#entry;
        if (entry !== undefined && entry.manifest !== "") {
          const { partial: _partial, ...kept } = entry;
          await this.#index.set(kept);
        } else if (entry !== undefined) {
          await this.#index.delete(key);
        }
        throw new ChecksumMismatchError(key, checksum.algorithm, checksum.hex, actual);
      }
    }
    const now = Date.now();
    const entry: KeyEntry = {
      key,
      manifest: manifest.toText(),
      size,
      algorithm: this.#client.algorithm,
      created: this.#entry?.created ?? now,
      fetched: now,
      accessed: now,
      validators: { ...this.#validators, contentLength: size },
    };
    await this.#index.set(entry);
    return {
      manifest,
      key,
      entry,
      fetched: this.#fetched,
      reused: false,
      resumed: this.#resumed,
      restarts: this.#restarts,
    };
  }

  /**
   * One GET (following redirects itself, so credentials go only where they
   * belong), with a deadline on the response headers.
   */
  async #request(extra: Record<string, string>, what: string): Promise<Response> {
    let url = new URL(this.#target.url.href);
    for (let hop = 0; hop <= 10; hop++) {
      const headers = new Headers(this.#options.headers ?? {});
      for (const [name, value] of Object.entries(extra)) headers.set(name, value);
      const sameOrigin = url.origin === this.#target.url.origin;
      if (!sameOrigin) headers.delete("authorization");
      if (!headers.has("authorization")) {
        const userinfo = sameOrigin ? this.#target.userinfo : undefined;
        const fromNetrc = this.#netrc === undefined
          ? undefined
          : netrcFor(this.#netrc, url.hostname);
        const credentials = userinfo ??
          (fromNetrc === undefined ? undefined : `${fromNetrc.login}:${fromNetrc.password}`);
        if (credentials !== undefined) headers.set("authorization", `Basic ${base64(credentials)}`);
      }
      // The body as sent: a decoded body would not match Content-Length or ranges.
      headers.set("accept-encoding", "identity");
      const controller = new AbortController();
      const signal = this.#options.signal;
      const onAbort = (): void => controller.abort(signal!.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      const timer = setTimeout(
        () => controller.abort(new DeadlineError(this.#target.key, "headers", this.#idle)),
        this.#idle,
      );
      let response: Response;
      try {
        response = await this.#fetch(url, {
          headers,
          redirect: "manual",
          signal: controller.signal,
        });
      } catch (error) {
        signal?.throwIfAborted();
        if (controller.signal.aborted) throw controller.signal.reason;
        throw new ServiceError(
          this.#target.key,
          `Cannot ${what}: ${errorText(error)}`,
          { retryable: true },
          { cause: error },
        );
      } finally {
        clearTimeout(timer);
        // From here the caller's abort reaches the body through the pipe that reads it.
        signal?.removeEventListener("abort", onAbort);
      }
      const location = response.headers.get("location");
      if ([301, 302, 303, 307, 308].includes(response.status) && location !== null) {
        await response.body?.cancel().catch(() => {});
        url = new URL(location, url);
        if (url.protocol !== "http:" && url.protocol !== "https:") break;
        continue;
      }
      return response;
    }
    throw new ServiceError(this.#target.key, `Cannot ${what}: too many redirects`, {
      retryable: false,
    });
  }

  /** The conditional request, retried within the policy on network errors and 5xx/429. */
  async #checkRequest(conditional: Record<string, string>): Promise<Response> {
    const policy = retryPolicy(this.#options.retry ?? { rounds: 6, baseDelay: 500 });
    for (let round = 1;; round++) {
      let failure: unknown;
      try {
        const response = await this.#request(conditional, "check");
        if (!isRetryableStatus(response.status) || round >= policy.rounds) return response;
        failure = await this.#statusError(response, "check");
      } catch (error) {
        if (!(error instanceof ServiceError && error.retryable) || round >= policy.rounds) {
          throw error;
        }
        failure = error;
      }
      this.#warn(`${errorText(failure)}; asking again (try ${round + 1} of ${policy.rounds})`);
      await sleep(backoffDelay(policy, round), this.#options.signal);
    }
  }

  /** A typed error for a status that is not what was asked for; the body is let go. */
  async #statusError(response: Response, what: string): Promise<Error> {
    await response.body?.cancel().catch(() => {});
    const status = response.status;
    const key = this.#target.key;
    if (status === 401 || status === 403) {
      return new AuthError(
        key,
        `Cannot ${what}: the origin refused the credentials (HTTP ${status}); give them in a netrc file or an Authorization header`,
        { status },
      );
    }
    return new ServiceError(key, `Cannot ${what}: HTTP ${status}`, {
      status,
      retryable: isRetryableStatus(status),
    });
  }

  #progress(): void {
    this.#options.onProgress?.({
      bytesFetched: this.#fetched,
      bytesStored: this.#stored,
      bytesTotal: this.#size,
    });
  }
}

/** The validator an `If-Range` can use: a strong ETag, else Last-Modified. */
function resumeValidator(validators: KeyValidators): string | undefined {
  if (validators.etag !== undefined && !validators.etag.startsWith("W/")) return validators.etag;
  return validators.lastModified;
}

/** Whether a response's validators are those recorded (where both have one). */
function sameVersion(validators: KeyValidators, headers: Headers): boolean {
  const etag = headers.get("etag");
  if (validators.etag !== undefined && etag !== null) return etag === validators.etag;
  const lastModified = headers.get("last-modified");
  if (validators.lastModified !== undefined && lastModified !== null) {
    return lastModified === validators.lastModified;
  }
  return true;
}

/** The whole object's checksum, when the origin gives one. */
export function checksumOf(headers: Headers): KeyValidators["checksum"] {
  const found: Partial<Record<"md5" | "sha256", string>> = {};
  const take = (algorithm: string, value: string): void => {
    const name = algorithm.trim().toLowerCase();
    const hex = base64ToHex(value.trim().replace(/^:|:$/g, ""));
    if (hex === undefined) return;
    if (name === "md5" && hex.length === 32) found.md5 ??= hex;
    if (name === "sha-256" && hex.length === 64) found.sha256 ??= hex;
  };
  for (const header of ["repr-digest", "digest"]) {
    for (const part of (headers.get(header) ?? "").split(",")) {
      const at = part.indexOf("=");
      if (at > 0) take(part.slice(0, at), part.slice(at + 1));
    }
  }
  const md5 = headers.get("content-md5");
  if (md5 !== null) take("md5", md5);
  const etag = headers.get("etag");
  // S3 (and Swift's S3 API) give a single-part object's MD5 as its ETag.
  if (found.md5 === undefined && etag !== null && /^"[0-9a-f]{32}"$/.test(etag)) {
    let s3 = false;
    headers.forEach((_, name) => (s3 ||= name.startsWith("x-amz-")));
    if (s3) found.md5 = etag.slice(1, -1);
  }
  if (found.sha256 !== undefined) return { algorithm: "sha256", hex: found.sha256 };
  if (found.md5 !== undefined) return { algorithm: "md5", hex: found.md5 };
  return undefined;
}

function base64ToHex(text: string): string | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return undefined;
  try {
    const binary = atob(text);
    let hex = "";
    for (let i = 0; i < binary.length; i++) {
      hex += binary.charCodeAt(i).toString(16).padStart(2, "0");
    }
    return hex;
  } catch {
    return undefined;
  }
}

function base64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** A file name from the URL: its last path segment, else the host. */
function nameOf(url: URL): string {
  let segment = url.pathname.split("/").pop() ?? "";
  try {
    segment = decodeURIComponent(segment);
  } catch {
    // Keep it encoded.
  }
  // deno-lint-ignore no-control-regex
  segment = segment.replace(/[/\\\x00-\x1f]/g, "_");
  return segment === "" || segment === "." || segment === ".." ? url.hostname || "index" : segment;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
