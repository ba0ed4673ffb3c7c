import { describe, expect, it } from "vitest";
import { readdir, writeFile } from "node:fs/promises";
import {
  FileKeyIndex,
  KeyCollisionError,
  type KeyEntry,
  type KeyIndex,
  MemoryKeyIndex,
  StoreError,
} from "../../mod.ts";
import type { KeyIndexOptions } from "../../lib/store/file_key_index.ts";
import { newBucketStore } from "../_s3.ts";
import { join, tempDir } from "../_utils.ts";

const entry = (key: string, size = 3): KeyEntry => ({
  key,
  manifest: `. acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:x\n`,
  size,
  algorithm: "md5",
  created: 1,
  fetched: 2,
  accessed: 3,
  validators: { etag: '"e"', contentLength: size },
});

async function all(index: KeyIndex): Promise<KeyEntry[]> {
  const out: KeyEntry[] = [];
  for await (const e of index.list()) out.push(e);
  return out.sort((a, b) => a.key.localeCompare(b.key));
}

function contract(
  name: string,
  make: (dir: string, options?: KeyIndexOptions) => Promise<KeyIndex>,
) {
  describe(`${name} (the KeyIndex contract)`, () => {
    it("gets, replaces, lists and deletes entries", async () => {
      const dir = await tempDir();
      try {
        const index = await make(dir.path);
        expect(await index.get("https://a/x")).toBeUndefined();
        await index.set(entry("https://a/x"));
        await index.set(entry("https://a/y", 9));
        await index.set(entry("https://a/x", 5));
        expect((await index.get("https://a/x"))!.size).toBe(5);
        expect((await all(index)).map((e) => e.key)).toEqual(["https://a/x", "https://a/y"]);
        expect(await index.delete("https://a/x")).toBe(true);
        expect(await index.delete("https://a/x")).toBe(false);
        expect((await all(index)).map((e) => e.key)).toEqual(["https://a/y"]);
        await expect(index.set({ ...entry("k"), size: Number.NaN })).rejects.toBeInstanceOf(
          TypeError,
        );
      } finally {
        await dir.cleanup();
      }
    });

    it("refuses a key whose hash slot holds another key, and leaves that entry alone", async () => {
      const dir = await tempDir();
      try {
        const index = await make(dir.path, { hash: () => "abcdef" });
        await index.set(entry("first"));
        const error = await index.set(entry("second")).catch((e) => e);
        expect(error).toBeInstanceOf(KeyCollisionError);
        expect(error.message).toMatch(/'second'.*'first'/);
        await expect(index.get("second")).rejects.toBeInstanceOf(KeyCollisionError);
        expect(await index.delete("second")).toBe(false);
        expect((await index.get("first"))!.key).toBe("first");
      } finally {
        await dir.cleanup();
      }
    });
  });
}

contract("MemoryKeyIndex", (_dir, options) => Promise.resolve(new MemoryKeyIndex(options)));
contract(
  "FileKeyIndex",
  (dir, options) => Promise.resolve(new FileKeyIndex(join(dir, "keys"), options)),
);
contract(
  "S3Store.keyIndex",
  async (_dir, options) => (await newBucketStore("keys")).keyIndex(options),
);

describe("FileKeyIndex on disk", () => {
  it("lays entries out as the blocks are, leaves no temp file, and says when one is damaged", async () => {
    const dir = await tempDir();
    try {
      const index = new FileKeyIndex(join(dir.path, "keys"));
      for (let i = 0; i < 20; i++) await index.set(entry(`https://h/${i}`));
      const groups = await readdir(join(dir.path, "keys"));
      expect(groups.every((g) => /^[0-9a-f]{3}$/.test(g))).toBe(true);
      const files = await readdir(join(dir.path, "keys"), { recursive: true });
      expect(files.some((f) => String(f).includes(".tmp-"))).toBe(false);
      const one = files.map(String).find((f) => f.includes("/"))!;
      await writeFile(join(dir.path, "keys", one), "{ half");
      const keys: string[] = [];
      const error = await (async () => {
        for await (const e of index.list()) keys.push(e.key);
      })().catch((e) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect(error.message).toMatch(/not a key entry/);
    } finally {
      await dir.cleanup();
    }
  });
});
