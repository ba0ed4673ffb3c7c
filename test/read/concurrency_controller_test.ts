import { describe, expect, it } from "vitest";
import { ConcurrencyController } from "../../lib/read/_concurrency_controller.ts";

/**
 * Drives a controller against a model link: each 10 ms tick, while the limit
 * binds, `rate(limit)` bytes per ms arrive in `limit` pieces after a 5 ms
 * first-arrival time. Returns the limits seen, tick by tick.
 */
function drive(
  control: ConcurrencyController,
  clock: { now: number },
  rate: (limit: number) => number,
  ticks: number,
  binds = true,
): number[] {
  const seen: number[] = [];
  for (let t = 0; t < ticks; t++) {
    clock.now += 10;
    if (binds) control.blocked();
    control.firstByte(5);
    const limit = control.limit;
    const bytes = rate(limit) * 10;
    for (let i = 0; i < limit; i++) control.bytes(bytes / limit);
    seen.push(control.limit);
  }
  return seen;
}

function controller(max = 32, adaptive = true) {
  const clock = { now: 0 };
  const control = new ConcurrencyController({ max, adaptive, now: () => clock.now });
  return { clock, control };
}

describe("ConcurrencyController", () => {
  it("starts at 4 and doubles while goodput scales, up to the cap", () => {
    const { clock, control } = controller(32);
    expect(control.limit).toBe(4);
    drive(control, clock, (limit) => limit * 1000, 300);
    expect(control.limit).toBe(32);
    expect(control.peak).toBe(32);
    const reasons = control.changes.map((c) => `${c.concurrency}:${c.reason}`);
    expect(reasons.slice(0, 4)).toEqual(["4:start", "8:grow", "16:grow", "32:grow"]);
  });

  it("starts at the cap when the cap is below 4", () => {
    expect(controller(2).control.limit).toBe(2);
  });

  it("undoes a doubling that does not pay and holds near the knee", () => {
    const { clock, control } = controller(32);
    // Goodput grows with the limit up to 8, then stays flat.
    const seen = drive(control, clock, (limit) => Math.min(limit, 8) * 1000, 400);
    expect(control.peak).toBe(16);
    // Past the knee it settles back at 8 (fewer lose goodput, more add none).
    expect(seen.slice(-100).filter((l) => l === 8).length).toBeGreaterThan(80);
    expect(control.changes.map((c) => c.reason)).toContain("revert");
  });

  it("goes down to fewer requests when they carry the same goodput", () => {
    const { clock, control } = controller(32);
    // Flat: one request moves as much as many (a CPU-bound loopback).
    drive(control, clock, () => 50_000, 400);
    expect(control.limit).toBeLessThanOrEqual(2);
  });

  it("does not grow while the limit does not bind", () => {
    const { clock, control } = controller(32);
    drive(control, clock, (limit) => limit * 1000, 300, false);
    expect(control.limit).toBe(4);
    expect(control.changes).toHaveLength(1);
  });

  it("shrinks on a pushback, once for the requests already out, and stays below it", () => {
    const { clock, control } = controller(32);
    drive(control, clock, (limit) => limit * 1000, 300);
    expect(control.limit).toBe(32);
    const sent = clock.now - 5;
    control.pushback(32, sent);
    expect(control.limit).toBe(24);
    // More refusals of requests sent before the shrink: no further shrink.
    for (let i = 0; i < 10; i++) control.pushback(24, sent);
    expect(control.limit).toBe(24);
    expect(control.pushbacks).toBe(11);
    // A refusal of a request sent after it shrinks again.
    clock.now += 1;
    control.pushback(24, clock.now);
    expect(control.limit).toBe(18);
    // Probes never pass the ceiling the pushbacks set, however well more would pay.
    drive(control, clock, (limit) => limit * 1000, 1000);
    expect(control.limit).toBeLessThanOrEqual(18);
    expect(control.changes.filter((c) => c.reason === "pushback")).toHaveLength(2);
  });

  it("keeps a fixed limit when not adaptive, and still counts pushbacks", () => {
    const { clock, control } = controller(6, false);
    drive(control, clock, (limit) => limit * 1000, 200);
    control.pushback(6, clock.now);
    expect(control.limit).toBe(6);
    expect(control.pushbacks).toBe(1);
    expect(control.changes).toEqual([{ atMs: 0, concurrency: 6, reason: "start" }]);
  });

  it("keeps a bounded log of its changes: the first and the latest", () => {
    const { clock, control } = controller(32);
    // Flat goodput: it holds and probes for ever, a change or two a second.
    drive(control, clock, () => 50_000, 10_000);
    expect(control.changes).toHaveLength(64);
    expect(control.changesOmitted).toBeGreaterThan(0);
    expect(control.changes[0]!.reason).toBe("start");
    expect(control.changes.at(-1)!.atMs).toBeGreaterThan(90_000);
  });
});
