/**
 * `storeFromUrl`: a service string as a {@linkcode BlockStore}, the way the
 * CLI's `--service` and `BlockClient`'s `services` take them:
 *
 * - `http://…` or `https://…`: a Keep block server ({@linkcode KeepService});
 * - `s3://bucket/prefix?endpoint=…&region=…`: an S3 bucket (`S3Store` from
 *   `stowage/s3`), credentials from `AWS_ACCESS_KEY_ID` and friends;
 * - anything else without a scheme: a folder ({@linkcode FileStore}).
 *
 * @module
 */
import type { BlockStore } from "../model/block_store.ts";
import { FileStore } from "./file_store.ts";
import { KeepService, type ServiceTimeouts } from "./keep_service.ts";
import { S3Store } from "./s3_store.ts";

/** Options for {@linkcode storeFromUrl}, used by the kinds they apply to. */
export interface StoreFromUrlOptions {
  /** API token for block servers (`Authorization: Bearer …`). */
  token?: string;
  /** The fetch for HTTP and S3 services. @default {globalThis.fetch} */
  fetch?: typeof fetch;
  /** Deadlines for HTTP and S3 services. */
  timeouts?: ServiceTimeouts;
}

/**
 * Turns a service string into a store; see the module doc.
 *
 * @param url `http(s)://…`, `s3://…`, or a folder path.
 * @param options Token, fetch and deadlines for remote services.
 * @returns The store.
 * @throws {TypeError} On an empty string, an unsupported scheme, or a bare
 *   `host:port` (which would otherwise become a folder of that name).
 *
 * @example Three kinds of service string
 * ```ts
 * import { FileStore, KeepService, storeFromUrl } from "stowage";
 * import assert from "node:assert/strict";
 *
 * assert.ok(storeFromUrl("http://127.0.0.1:25107") instanceof KeepService);
 * assert.ok(storeFromUrl("/tmp/stowage-blocks") instanceof FileStore);
 * assert.throws(() => storeFromUrl("ftp://example.com/"), TypeError);
 * ```
 */
export function storeFromUrl(url: string, options: StoreFromUrlOptions = {}): BlockStore {
  if (typeof url !== "string" || url.length === 0) {
    throw new TypeError("Cannot use service '': expected a URL or a folder path");
  }
  const remote: { fetch?: typeof fetch; timeouts?: ServiceTimeouts } = {};
  if (options.fetch !== undefined) remote.fetch = options.fetch;
  if (options.timeouts !== undefined) remote.timeouts = options.timeouts;
  if (/^https?:\/\//i.test(url)) {
    return new KeepService(
      url,
      options.token === undefined ? remote : { ...remote, token: options.token },
    );
  }
  if (/^s3:\/\//i.test(url)) return S3Store.fromUrl(url, remote);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new TypeError(`Cannot use service '${url}': unsupported scheme`);
  }
  if (/^[A-Za-z0-9.-]+:\d+(\/|$)/.test(url)) {
    throw new TypeError(
      `Cannot use service '${url}': it looks like host:port; write http://${url} for a block server`,
    );
  }
  return new FileStore(url);
}
