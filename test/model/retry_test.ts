import { describe, expect, it } from "vitest";
import { backoffDelay, isRetryableStatus, retryPolicy, sleep } from "../../lib/model/retry.ts";

describe("retry policy", () => {
  it("defaults to giving a dead service up within about ten seconds", () => {
    expect(retryPolicy()).toEqual({
      rounds: 4,
      baseDelay: 1000,
      factor: 2,
      maxDelay: 60_000,
      jitter: 0.5,
    });
  });

  it("backs off exponentially with jitter, capped", () => {
    const policy = retryPolicy({ baseDelay: 100, factor: 2, maxDelay: 1000, jitter: 0.5 });
    expect(backoffDelay(policy, 0)).toBe(0);
    expect(backoffDelay(policy, 1, () => 0)).toBe(50);
    expect(backoffDelay(policy, 1, () => 0.999999)).toBeCloseTo(100, 3);
    expect(backoffDelay(policy, 3, () => 1)).toBe(400);
    expect(backoffDelay(policy, 10, () => 1)).toBe(1000);
    const noJitter = retryPolicy({ baseDelay: 100, jitter: 0 });
    expect(backoffDelay(noJitter, 2, () => 0.7)).toBe(200);
  });

  it("classifies statuses as Arvados does, plus 429", () => {
    for (const s of [408, 409, 423, 429, 500, 502, 503, 504]) {
      expect(isRetryableStatus(s)).toBe(true);
    }
    for (const s of [400, 401, 403, 404, 410, 413, 422, 501, 507]) {
      expect(isRetryableStatus(s)).toBe(false);
    }
  });

  it("rejects bad values", () => {
    expect(() => retryPolicy({ rounds: 0 })).toThrow(RangeError);
    expect(() => retryPolicy({ baseDelay: -1 })).toThrow(RangeError);
    expect(() => retryPolicy({ jitter: 2 })).toThrow(RangeError);
  });

  it("sleeps, and wakes on abort without leaving a timer", async () => {
    const started = performance.now();
    await sleep(5);
    expect(performance.now() - started).toBeGreaterThanOrEqual(4);
    const reason = new Error("stop");
    const controller = new AbortController();
    const pending = sleep(60_000, controller.signal);
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    await expect(sleep(10, AbortSignal.abort(reason))).rejects.toBe(reason);
  });
});
