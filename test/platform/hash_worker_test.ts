import { describe, expect, it } from "vitest";
import { BlockClient, digest, MemoryStore } from "../../mod.ts";
import { HashWorker } from "../../lib/platform/_hash_worker.ts";
import { randomBytes } from "../_utils.ts";

describe("HashWorker", () => {
  it("hashes blocks on a worker thread, handing the same memory back", async () => {
    const worker = new HashWorker();
    try {
      for (const algorithm of ["md5", "sha256"] as const) {
        const block = randomBytes(3 * 1024 * 1024);
        const expected = digest(block, algorithm);
        const copy = block.slice();
        const { bytes, hex } = await worker.hash(block, algorithm);
        expect(hex).toBe(expected);
        expect(block.byteLength).toBe(0); // transferred, not copied
        expect(Buffer.from(bytes).equals(Buffer.from(copy))).toBe(true);
      }
      // A view into a larger buffer is copied first, leaving the caller's buffer intact.
      const big = randomBytes(4 * 1024 * 1024);
      const view = big.subarray(1024, 2 * 1024 * 1024);
      const { hex } = await worker.hash(view, "md5");
      expect(hex).toBe(digest(big.subarray(1024, 2 * 1024 * 1024)));
      expect(big.byteLength).toBe(4 * 1024 * 1024);
    } finally {
      await worker.terminate();
    }
  });

  it("rejects pending and later hashes once stopped", async () => {
    const worker = new HashWorker();
    const pending = worker.hash(randomBytes(8 * 1024 * 1024), "md5").catch((e: unknown) => e);
    await worker.terminate(new Error("stopped"));
    expect(((await pending) as Error).message).toBe("stopped");
    await expect(worker.hash(randomBytes(10), "md5")).rejects.toThrow("stopped");
  });

  it("BlockWriteStream hashes big blocks on the worker and gets the same locators", async () => {
    const data = randomBytes(5 * 1024 * 1024 + 17);
    const client = new BlockClient({
      services: [new MemoryStore({ id: "m" })],
      copies: 1,
      cache: false,
    });
    const sink = client.writable({ blockSize: 2 * 1024 * 1024 });
    await new Blob([data]).stream().pipeTo(sink);
    const { manifest } = await sink.result;
    const expected = [0, 1, 2].map((i) => {
      const block = data.subarray(
        i * 2 * 1024 * 1024,
        Math.min(data.length, (i + 1) * 2 * 1024 * 1024),
      );
      return `${digest(block)}+${block.length}`;
    });
    expect(manifest.blocks()).toEqual(expected);
  });
});
