import { describe, expect, it } from "vitest";
import { ByteBudget } from "../../lib/server/_byte_budget.ts";

describe("ByteBudget", () => {
  it("grants in order while bytes last, and refuses after the wait", async () => {
    const budget = new ByteBudget(100);
    const a = await budget.reserve(60, { wait: 1000 });
    expect(a).toBeTypeOf("function");
    expect(await budget.reserve(60, { wait: 20 })).toBeUndefined();
    const waiting = budget.reserve(50, { wait: 1000 });
    a!();
    const b = await waiting;
    expect(b).toBeTypeOf("function");
    expect(budget.available).toBe(50);
    b!();
    b!(); // a second release changes nothing
    expect(budget.available).toBe(100);
  });

  it("serves first come first: a small request waits behind a large one", async () => {
    const budget = new ByteBudget(100);
    const first = (await budget.reserve(80, { wait: 1000 }))!;
    const large = budget.reserve(90, { wait: 1000 });
    const small = budget.reserve(10, { wait: 30 });
    // 20 bytes are free, but the large request was first: the small one waits, then gives up.
    expect(await small).toBeUndefined();
    first();
    const granted = await large;
    expect(granted).toBeTypeOf("function");
    granted!();
  });

  it("stops waiting when the signal fires, and caps a reservation at the total", async () => {
    const budget = new ByteBudget(10);
    const all = (await budget.reserve(1_000, { wait: 10 }))!;
    expect(budget.available).toBe(0);
    const controller = new AbortController();
    const waiting = budget.reserve(5, { wait: 10_000, signal: controller.signal });
    controller.abort();
    expect(await waiting).toBeUndefined();
    all();
    expect(budget.available).toBe(10);
    expect(() => new ByteBudget(0)).toThrow(RangeError);
  });
});
