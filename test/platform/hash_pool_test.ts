import { describe, expect, it } from "vitest";
import { BlockClient, digest, MemoryStore } from "../../mod.ts";
import { HashPool, hashThreadsSetting } from "../../lib/platform/_hash_pool.ts";
import type { BlockPutter } from "../../lib/model/block_putter.ts";
import { randomBytes } from "../_utils.ts";

const MiB = 1024 * 1024;

describe("HashPool", () => {
  it("hashes a transferred block on a thread and hands the same memory back", async () => {
    const pool = new HashPool({ threads: 2 });
    try {
      for (const algorithm of ["md5", "sha256"] as const) {
        const block = randomBytes(3 * MiB);
        const expected = digest(block, algorithm);
        const copy = block.slice();
        const { bytes, hex } = await pool.hash(block, algorithm, { transfer: true });
        expect(hex).toBe(expected);
        expect(block.byteLength).toBe(0); // transferred, not copied
        expect(Buffer.from(bytes).equals(Buffer.from(copy))).toBe(true);
      }
      // A view at an offset of an owned buffer: the view's bytes are hashed.
      const whole = randomBytes(2 * MiB);
      const expected = digest(whole.subarray(100, MiB + 100));
      const { bytes, hex } = await pool.hash(whole.subarray(100, MiB + 100), "md5", {
        transfer: true,
      });
      expect(hex).toBe(expected);
      expect([bytes.byteOffset, bytes.length, bytes.buffer.byteLength]).toEqual([
        100,
        MiB,
        2 * MiB,
      ]);
    } finally {
      await pool.terminate();
    }
  });

  it("copies a block it may not take, leaving the caller's buffer intact", async () => {
    const pool = new HashPool({ threads: 1 });
    try {
      const big = randomBytes(4 * MiB);
      for (const [start, end] of [[0, 4 * MiB], [1024, 2 * MiB], [5, 6]]) {
        const view = big.subarray(start, end);
        const { bytes, hex } = await pool.hash(view, "md5", { transfer: false });
        expect(hex).toBe(digest(view));
        expect(bytes).toBe(view);
      }
      expect(big.byteLength).toBe(4 * MiB);
    } finally {
      await pool.terminate();
    }
  });

  it("runs blocks on every thread at once, at most `threads`, each result its own", async () => {
    const pool = new HashPool({ threads: 3 });
    try {
      const blocks = Array.from({ length: 12 }, (_, i) => randomBytes(MiB + i));
      const expected = blocks.map((b) => digest(b));
      let peak = 0;
      const jobs = blocks.map((b) => {
        const job = pool.hash(b, "md5", { transfer: true });
        peak = Math.max(peak, pool.running);
        return job;
      });
      const results = await Promise.all(jobs);
      expect(results.map((r) => r.hex)).toEqual(expected);
      expect(results.map((r) => r.bytes.length)).toEqual(blocks.map((_, i) => MiB + i));
      expect(peak).toBe(3);
    } finally {
      await pool.terminate();
    }
  });

  it("runs urgent hashes before those already waiting, in the order asked", async () => {
    const pool = new HashPool({ threads: 1 });
    try {
      const done: string[] = [];
      const job = (name: string, size: number, urgent = false) =>
        pool.hash(randomBytes(size), "md5", { transfer: true, urgent }).then(() => {
          done.push(name);
        });
      const all = [
        job("running", 16 * MiB),
        job("a", MiB),
        job("b", MiB),
        job("urgent 1", MiB, true),
        job("urgent 2", MiB, true),
      ];
      await Promise.all(all);
      expect(done).toEqual(["running", "urgent 1", "urgent 2", "a", "b"]);
    } finally {
      await pool.terminate();
    }
  });

  it("stops idle threads after the idle timeout and starts them again on demand", async () => {
    const pool = new HashPool({ threads: 2, idleTimeout: 30 });
    try {
      await pool.hash(randomBytes(MiB), "md5", { transfer: true });
      expect(pool.running).toBe(1);
      const deadline = Date.now() + 5000;
      while (pool.running > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(pool.running).toBe(0);
      const block = randomBytes(MiB);
      expect((await pool.hash(block.slice(), "sha256", { transfer: true })).hex).toBe(
        digest(block, "sha256"),
      );
    } finally {
      await pool.terminate();
    }
  });

  it("rejects pending and later hashes once terminated", async () => {
    const pool = new HashPool({ threads: 1 });
    const running = pool.hash(randomBytes(8 * MiB), "md5", { transfer: true }).catch((e) => e);
    const queued = pool.hash(randomBytes(8 * MiB), "md5", { transfer: true }).catch((e) => e);
    await pool.terminate(new Error("stopped"));
    expect(((await running) as Error).message).toBe("stopped");
    expect(((await queued) as Error).message).toBe("stopped");
    await expect(pool.hash(randomBytes(10), "md5", { transfer: true })).rejects.toThrow("stopped");
  });

  it("checks its options and STOWAGE_HASH_THREADS", () => {
    expect(() => new HashPool({ threads: 0 })).toThrow(RangeError);
    expect(hashThreadsSetting(undefined)).toBeUndefined();
    expect(hashThreadsSetting(" ")).toBeUndefined();
    expect(hashThreadsSetting("0")).toBe(0);
    expect(hashThreadsSetting("3")).toBe(3);
    expect(() => hashThreadsSetting("-1")).toThrow(/STOWAGE_HASH_THREADS.*'-1'/);
    expect(() => hashThreadsSetting("two")).toThrow(RangeError);
  });
});

describe("hashing in the write path", () => {
  it("BlockWriteStream hashes big blocks on the threads and keeps the locators in order", async () => {
    const data = randomBytes(9 * MiB + 17);
    const client = new BlockClient({
      services: [new MemoryStore({ id: "m" })],
      copies: 1,
      cache: false,
    });
    const sink = client.writable({ blockSize: MiB, blocksInFlight: 6 });
    await new Blob([data]).stream().pipeTo(sink);
    const { manifest } = await sink.result;
    const expected = Array.from({ length: 10 }, (_, i) => {
      const block = data.subarray(i * MiB, Math.min(data.length, (i + 1) * MiB));
      return `${digest(block)}+${block.length}`;
    });
    expect(manifest.blocks()).toEqual(expected);
  });

  it("BlockWriteStream reuses a stored block's buffer for a later block", async () => {
    // The tail block is a view over a reused buffer: past its end lie the
    // bytes of an earlier block, where a fresh buffer would hold zeros.
    const data = randomBytes(3 * MiB + 10);
    const seen: Uint8Array[] = [];
    const putter: BlockPutter = {
      algorithm: "md5",
      copies: 1,
      put(bytes) {
        seen.push(bytes);
        return Promise.resolve({
          locator: `${digest(bytes)}+${bytes.length}`,
          replicas: 1,
          classes: {},
          overReplicated: 0,
        });
      },
      replicas: () => Promise.resolve(0),
    };
    const { BlockWriteStream } = await import("../../mod.ts");
    const sink = new BlockWriteStream(putter, { blockSize: MiB, blocksInFlight: 1 });
    await new Blob([data]).stream().pipeTo(sink);
    await sink.result;
    const tail = seen.at(-1)!;
    expect(tail.length).toBe(10);
    const beyond = new Uint8Array(tail.buffer, tail.byteOffset + 10, 1000);
    const earlier = [0, 1, 2].map((i) => data.subarray(i * MiB + 10, i * MiB + 1010));
    expect(earlier.some((e) => Buffer.from(e).equals(Buffer.from(beyond)))).toBe(true);
  });

  it("client.put hashes a big buffer on a thread without taking it", async () => {
    const client = new BlockClient({ services: [new MemoryStore()], copies: 1, cache: false });
    const bytes = randomBytes(2 * MiB);
    const { locator } = await client.put(bytes);
    expect(locator).toBe(`${digest(bytes)}+${bytes.length}`);
    expect(bytes.byteLength).toBe(2 * MiB);
  });
});
