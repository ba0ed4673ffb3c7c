/**
 * Retry policy for block services: which failures are worth another round,
 * and how long to wait between rounds (jittered exponential backoff).
 *
 * Defaults: 4 rounds in all, waiting 1 s, then 2 s, then 4 s (less half of
 * each at random): a dead service is given up on within about ten seconds,
 * and a restarting one gets seven. Tests set `baseDelay` to a few ms.
 *
 * @example A fast policy for tests
 * ```ts
 * import { BlockClient, MemoryStore } from "stowage";
 *
 * const client = new BlockClient({
 *   services: [new MemoryStore({ id: "a" }), new MemoryStore({ id: "b" })],
 *   retry: { rounds: 3, baseDelay: 1, maxDelay: 5 },
 * });
 * ```
 *
 * @module
 */

/** How a client retries. */
export interface RetryOptions {
  /** Rounds in all (the first try counts as one). @default {4} */
  rounds?: number;
  /** Wait before the second round, ms. @default {1000} */
  baseDelay?: number;
  /** Growth of the wait per round. @default {2} */
  factor?: number;
  /** Longest wait, ms. @default {60000} */
  maxDelay?: number;
  /** Fraction of each wait that is random (0 none, 1 full jitter). @default {0.5} */
  jitter?: number;
}

/** A retry policy with every field set. */
export type RetryPolicy = Required<RetryOptions>;

/** Fills in defaults and checks values. */
export function retryPolicy(options: RetryOptions = {}): RetryPolicy {
  const policy: RetryPolicy = {
    rounds: options.rounds ?? 4,
    baseDelay: options.baseDelay ?? 1000,
    factor: options.factor ?? 2,
    maxDelay: options.maxDelay ?? 60_000,
    jitter: options.jitter ?? 0.5,
  };
  if (!Number.isSafeInteger(policy.rounds) || policy.rounds < 1) {
    throw new RangeError(`Cannot use retry rounds ${policy.rounds}: expected an integer >= 1`);
  }
  for (const key of ["baseDelay", "factor", "maxDelay"] as const) {
    if (!(policy[key] >= 0) || !Number.isFinite(policy[key])) {
      throw new RangeError(`Cannot use retry ${key} ${policy[key]}: expected a finite number >= 0`);
    }
  }
  if (!(policy.jitter >= 0 && policy.jitter <= 1)) {
    throw new RangeError(`Cannot use retry jitter ${policy.jitter}: expected 0 to 1`);
  }
  return policy;
}

/**
 * The wait before round `round` (1-based; round 0 has none).
 *
 * @param policy The policy.
 * @param round The round about to start.
 * @param random A source of [0, 1). @default {Math.random}
 * @returns Milliseconds.
 */
export function backoffDelay(
  policy: RetryPolicy,
  round: number,
  random: () => number = Math.random,
): number {
  if (round <= 0) return 0;
  const ceiling = Math.min(policy.maxDelay, policy.baseDelay * policy.factor ** (round - 1));
  return ceiling * (1 - policy.jitter) + ceiling * policy.jitter * random();
}

/** HTTP statuses worth retrying on the same service: Arvados's list plus 429. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([
  408,
  409,
  423,
  429,
  500,
  502,
  503,
  504,
]);

/**
 * Tells whether an HTTP status is worth retrying.
 *
 * @param status The status.
 * @returns `true` for 408, 409, 423, 429, 500, 502, 503, 504.
 */
export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUSES.has(status);
}

/** Sleeps, waking early (rejecting) when the signal aborts; leaves no timer behind. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
