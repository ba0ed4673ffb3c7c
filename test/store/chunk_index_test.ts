import { describe, expect, it } from "vitest";
import { appendFile, readdir, stat, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { type ChunkIndex, FileChunkIndex, MemoryChunkIndex, StoreError } from "../../mod.ts";
import { join, tempDir } from "../_utils.ts";

const sha = (i: number) => createHash("sha256").update(String(i)).digest("hex");
const md5 = (i: number) => createHash("md5").update(String(i)).digest("hex");
const entry = (i: number, block = i % 7) => ({
  digest: sha(i),
  locator: `${md5(block)}+${1000 + block}`,
  offset: i * 10,
  length: 10 + i,
});

function contract(name: string, make: (dir: string) => ChunkIndex) {
  describe(`${name} (the ChunkIndex contract)`, () => {
    it("finds what was added, forgets what was dropped, and by block", async () => {
      const dir = await tempDir();
      try {
        const index = make(dir.path);
        await index.add(Array.from({ length: 50 }, (_, i) => entry(i)));
        const found = await index.lookup([sha(3), sha(49), sha(1000)]);
        expect([...found.keys()].sort()).toEqual([sha(3), sha(49)].sort());
        expect(found.get(sha(3))).toEqual({ locator: `${md5(3)}+1003`, offset: 30, length: 13 });
        // A digest added again takes its new location.
        await index.add([{ ...entry(3), offset: 99 }]);
        expect((await index.lookup([sha(3)])).get(sha(3))!.offset).toBe(99);
        await index.drop([sha(3)]);
        expect((await index.lookup([sha(3)])).size).toBe(0);
        // Every chunk in block 5 goes: 5, 12, 19, 26, 33, 40, 47.
        expect(await index.dropBlocks([`${md5(5)}+1005`])).toBe(7);
        expect((await index.lookup([sha(12), sha(13)])).size).toBe(1);
        expect(await index.dropBlocks([])).toBe(0);
      } finally {
        await dir.cleanup();
      }
    });
  });
}

contract("MemoryChunkIndex", () => new MemoryChunkIndex());
contract("FileChunkIndex", (dir) => new FileChunkIndex(join(dir, "chunks")));

describe("FileChunkIndex", () => {
  it("persists in shard files, read back by a new instance, within a small memory bound", async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, "chunks");
      // A journal of 1000 records: adds go there, and are merged into the shards when full.
      const first = new FileChunkIndex(path, { journalRecords: 1000 });
      for (let i = 0; i < 3000; i += 500) {
        await first.add(Array.from({ length: 500 }, (_, k) => entry(i + k)));
      }
      await first.add([entry(3000)]);
      await first.drop([sha(10)]);
      const files = (await readdir(path)).sort();
      expect(files.every((f) => /^([0-9a-f]{3}|log)\.idx$/.test(f))).toBe(true);
      expect(files.length).toBeGreaterThan(1000);
      let bytes = 0;
      for (const f of files) bytes += (await stat(join(path, f))).size;
      expect(bytes).toBe(3002 * 80); // 80 bytes a record: 3001 entries and one removal
      expect((await stat(join(path, "log.idx"))).size).toBe(2 * 80); // since the last merge
      // 20 KB of shards at most in memory: shards come and go, answers stay right.
      const second = new FileChunkIndex(path, { maxMemory: 20_000 });
      const digests = Array.from({ length: 3000 }, (_, i) => sha(i));
      const found = await second.lookup(digests);
      expect(found.size).toBe(2999);
      expect((await second.lookup([sha(3000)])).size).toBe(1); // from the journal
      expect(found.has(sha(10))).toBe(false);
      expect(found.get(sha(2999))).toEqual({
        locator: `${md5(2999 % 7)}+${1000 + (2999 % 7)}`,
        offset: 29990,
        length: 3009,
      });
    } finally {
      await dir.cleanup();
    }
  });

  it("ignores a torn last record, as a crash mid-append leaves it", async () => {
    const dir = await tempDir();
    try {
      const path = join(dir.path, "chunks");
      await new FileChunkIndex(path).add([entry(1)]);
      const shard = join(path, "log.idx");
      await appendFile(shard, new Uint8Array(37).fill(0xff));
      const index = new FileChunkIndex(path);
      expect((await index.lookup([sha(1)])).size).toBe(1);
      // A record with a nonsense block digest length is skipped too.
      const bad = new Uint8Array(80);
      bad.set(Buffer.from(sha(2), "hex"));
      bad[32] = 9;
      bad[77] = 1;
      await writeFile(join(path, `${sha(2).slice(0, 3)}.idx`), bad);
      expect((await new FileChunkIndex(path).lookup([sha(2)])).size).toBe(0);
    } finally {
      await dir.cleanup();
    }
  });

  it("refuses bad digests, and says where it cannot write", async () => {
    const dir = await tempDir();
    try {
      const index = new FileChunkIndex(join(dir.path, "chunks"));
      await expect(index.lookup(["xyz"])).rejects.toThrow(TypeError);
      await writeFile(join(dir.path, "file"), "not a folder");
      const blocked = new FileChunkIndex(join(dir.path, "file", "chunks"));
      const error = await blocked.add([entry(1)]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).message).toMatch(/chunk index.*file\/chunks/);
      expect((error as StoreError).retryable).toBe(false);
      expect(() => new FileChunkIndex("")).toThrow(TypeError);
    } finally {
      await dir.cleanup();
    }
  });
});
