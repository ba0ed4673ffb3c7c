import { describe, expect, it } from "vitest";
import { BufferPool } from "../../lib/platform/_buffer_pool.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

describe("BufferPool", () => {
  it("lends views of size classes: powers of two from 64 KiB, and the block size exactly", () => {
    const pool = new BufferPool({ blockSize: 5 * MiB });
    expect(
      [1, 64 * KiB, 64 * KiB + 1, 3 * MiB, 4.5 * MiB, 5 * MiB, 6 * MiB].map((n) => pool.classOf(n)),
    ).toEqual([64 * KiB, 64 * KiB, 128 * KiB, 4 * MiB, 5 * MiB, 5 * MiB, 8 * MiB]);
    const bytes = pool.take(3 * MiB);
    expect([bytes.length, bytes.byteOffset, bytes.buffer.byteLength]).toEqual([
      3 * MiB,
      0,
      4 * MiB,
    ]);
    expect(pool.lentBytes).toBe(4 * MiB);
  });

  it("lends a given-back buffer again, by its class", () => {
    const pool = new BufferPool({ blockSize: MiB });
    const a = pool.take(MiB);
    const b = pool.take(100 * KiB);
    pool.give(a.subarray(0, 10)); // any view over it
    pool.give(b);
    expect(pool.idleBytes).toBe(MiB + 128 * KiB);
    expect(pool.lentBytes).toBe(0);
    expect(pool.take(MiB).buffer).toBe(a.buffer);
    expect(pool.take(120 * KiB).buffer).toBe(b.buffer);
    expect(pool.take(MiB).buffer).not.toBe(a.buffer); // none idle: a new one
  });

  it("ignores detached buffers and sizes it never lends", () => {
    const pool = new BufferPool({ blockSize: MiB });
    pool.give(new Uint8Array(1000));
    pool.give(new Uint8Array(new ArrayBuffer(0)));
    const lent = pool.take(MiB);
    structuredClone(lent.buffer, { transfer: [lent.buffer] });
    pool.give(lent);
    expect(pool.idleBytes).toBe(0);
  });

  it("keeps lent and idle memory within its limit, dropping idle buffers of other classes", () => {
    const pool = new BufferPool({ blockSize: MiB, limit: 2 * MiB });
    const a = pool.take(MiB);
    const b = pool.take(MiB);
    pool.give(a);
    pool.give(b);
    expect(pool.idleBytes).toBe(2 * MiB);
    // A 64 KiB class needs room: one idle 1 MiB buffer goes.
    pool.take(10);
    expect(pool.idleBytes).toBe(MiB);
    expect(pool.lentBytes).toBe(64 * KiB);
    // Over the limit, a given-back buffer is let go rather than kept.
    const c = pool.take(MiB);
    const d = pool.take(MiB);
    pool.give(c);
    pool.give(d);
    expect(pool.lentBytes + pool.idleBytes).toBeLessThanOrEqual(2 * MiB);
    pool.clear();
    expect(pool.idleBytes).toBe(0);
  });

  it("rejects a bad block size", () => {
    expect(() => new BufferPool({ blockSize: 0 })).toThrow(RangeError);
  });
});
