/**
 * One HTTP request to a block service, with three deadlines (response headers,
 * idle gap between body chunks, whole request), the caller's signal, and the
 * response body always read whole or cancelled, so no socket is left
 * half-read. Shared by {@linkcode KeepService} and {@linkcode S3Store}; each
 * maps statuses to errors itself. Private to the package.
 *
 * @module
 */
import { errorDetail } from "../model/_error_detail.ts";
import { DeadlineError, ServiceError } from "../model/errors.ts";
import { concat } from "../platform/_concat.ts";
import { nodeFetch } from "../platform/_node_fetch.ts";

/** Deadlines for one request, in ms. */
export interface ServiceTimeouts {
  /** Until the response headers arrive. @default {20000} */
  headers?: number;
  /** Longest gap between two body chunks. @default {60000} */
  idle?: number;
  /** The whole request. @default {300000} */
  request?: number;
}

/** Fills in the default deadlines. */
export function serviceTimeouts(timeouts: ServiceTimeouts = {}): Required<ServiceTimeouts> {
  return {
    headers: timeouts.headers ?? 20_000,
    idle: timeouts.idle ?? 60_000,
    request: timeouts.request ?? 300_000,
  };
}

/** A finished exchange: status, headers and the whole body. */
export interface Exchange {
  status: number;
  headers: Headers;
  body: Uint8Array;
}

/** What {@linkcode exchange} needs. */
export interface ExchangeOptions {
  /** The service's id, for errors. */
  service: string;
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: Uint8Array | undefined;
  signal?: AbortSignal | undefined;
  timeouts: Required<ServiceTimeouts>;
  /** The caller's fetch; without one, `node:http` sends bodies (no copy) and `fetch` the rest. */
  fetch?: typeof fetch | undefined;
  /** What is being done, for error messages: "put block '…'". */
  action: string;
  /** Told the body bytes handed to the network so far (node:http bodies only). */
  onBodyProgress?: ((sent: number) => void) | undefined;
}

/**
 * Runs one request. Resolves with any status (the body of an error status is
 * read when it can be, else left empty).
 *
 * @throws The caller's `signal.reason` when it aborts; {@linkcode DeadlineError}
 * when a deadline passes; a retryable {@linkcode ServiceError} on network errors.
 */
export async function exchange(options: ExchangeOptions): Promise<Exchange> {
  options.signal?.throwIfAborted();
  const controller = new AbortController();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const deadline = (kind: "headers" | "idle" | "request", ms: number) => {
    const timer = setTimeout(
      () => controller.abort(new DeadlineError(options.service, kind, ms)),
      ms,
    );
    timers.add(timer);
    return timer;
  };
  const onAbort = (): void => controller.abort(options.signal!.reason);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  deadline("request", options.timeouts.request);
  const headerTimer = deadline("headers", options.timeouts.headers);
  let response: Response | undefined;
  try {
    try {
      const init = {
        method: options.method,
        headers: options.headers,
        body: options.body ?? null,
        signal: controller.signal,
        ...(options.onBodyProgress ? { onBodyProgress: options.onBodyProgress } : {}),
      };
      response = options.body !== undefined && options.fetch === undefined
        ? await nodeFetch(options.url, init)
        : await (options.fetch ?? globalThis.fetch)(options.url, init as RequestInit);
    } catch (error) {
      throw networkError(error, controller.signal, options);
    }
    clearTimeout(headerTimer);
    const status = response.status;
    let body: Uint8Array = new Uint8Array(0);
    if (status < 200 || status > 299) {
      body = await readBody(response, controller, deadline, options.timeouts.idle).catch(() =>
        new Uint8Array(0)
      );
    } else if (options.method !== "HEAD") {
      try {
        body = await readBody(response, controller, deadline, options.timeouts.idle);
      } catch (error) {
        throw networkError(error, controller.signal, options);
      }
    }
    return { status, headers: response.headers, body };
  } catch (error) {
    if (controller.signal.aborted && !(error instanceof ServiceError)) {
      throw networkError(error, controller.signal, options);
    }
    throw error;
  } finally {
    for (const timer of timers) clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    if (response?.body && !response.bodyUsed) response.body.cancel().catch(() => {});
  }
}

async function readBody(
  response: Response,
  controller: AbortController,
  deadline: (kind: "idle", ms: number) => ReturnType<typeof setTimeout>,
  idleMs: number,
): Promise<Uint8Array> {
  if (response.body === null) return new Uint8Array(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let idle = deadline("idle", idleMs);
  const onAbort = () => reader.cancel(controller.signal.reason).catch(() => {});
  controller.signal.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      clearTimeout(idle);
      if (done) break;
      controller.signal.throwIfAborted();
      chunks.push(value);
      idle = deadline("idle", idleMs);
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
  return chunks.length === 1 ? chunks[0]! : concat(chunks);
}

function networkError(
  error: unknown,
  signal: AbortSignal,
  options: { service: string; signal?: AbortSignal | undefined; action: string },
): unknown {
  // The caller's own abort passes through unchanged.
  if (options.signal?.aborted) return options.signal.reason;
  if (signal.aborted && signal.reason instanceof DeadlineError) return signal.reason;
  return new ServiceError(
    options.service,
    `Cannot ${options.action}: ${errorDetail(error)}`,
    { retryable: true },
    { cause: error },
  );
}
