import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import {
  BlockCorruptError,
  defaultStoreDir,
  FileStore,
  StoreError,
  StoreFullError,
} from "../../mod.ts";
import { fs } from "../../lib/platform/_fs.ts";
import { arrayFrom, join, randomBytes, tempDir } from "../_utils.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const FOO = "acbd18db4cc2f85cedef654fccc4a4d8+3";
const FOO_DIGEST = FOO.split("+")[0]!;

describe("FileStore", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let store: FileStore;
  const saved = { ...fs };
  beforeEach(async () => {
    dir = await tempDir();
    store = new FileStore(dir.path);
  });
  afterEach(async () => {
    Object.assign(fs, saved);
    await dir.cleanup();
  });

  it("uses keepstore's layout <root>/<digest[0:3]>/<digest>", async () => {
    await store.put(enc("foo"));
    const path = join(dir.path, "acb", FOO_DIGEST);
    expect(store.pathOf(FOO)).toBe(path);
    expect(new TextDecoder().decode(await readFile(path))).toBe("foo");
    expect(await readdir(join(dir.path, "acb"))).toEqual([FOO_DIGEST]);
  });

  it("detects a damaged file on get and never returns its bytes", async () => {
    await store.put(enc("foo"));
    await writeFile(store.pathOf(FOO), "fox");
    const error = await store.get(FOO).catch((e) => e);
    expect(error).toBeInstanceOf(BlockCorruptError);
    expect(error.message).toMatch(/hashes to/);
    await writeFile(store.pathOf(FOO), "fooo");
    expect((await store.get(FOO).catch((e) => e)).message).toMatch(/has 4 bytes/);
  });

  it("checks a big block on the hashing threads, and still refuses a damaged one", async () => {
    // 2 MiB: past the size a block's check goes to a hashing thread.
    const bytes = randomBytes(2 * 1024 * 1024);
    const { locator } = await store.put(bytes);
    const back = await store.get(locator);
    expect(Buffer.from(back).equals(Buffer.from(bytes))).toBe(true);
    const damaged = bytes.slice();
    damaged[12345] = damaged[12345]! ^ 1;
    await writeFile(store.pathOf(locator), damaged);
    const error = await store.get(locator).catch((e) => e);
    expect(error).toBeInstanceOf(BlockCorruptError);
    expect(error.message).toMatch(/hashes to/);
  });

  it("makes a missing shard folder again when it writes", async () => {
    await store.put(enc("foo"));
    await rm(join(dir.path, "acb"), { recursive: true });
    await store.put(enc("foo"));
    expect(await store.get(FOO)).toEqual(enc("foo"));
  });

  it("repairs a damaged copy on a duplicate put", async () => {
    await store.put(enc("foo"));
    await writeFile(store.pathOf(FOO), "fox");
    await store.put(enc("foo"));
    expect(await store.get(FOO)).toEqual(enc("foo"));
  });

  it("refreshes mtime on a duplicate put", async () => {
    await store.put(enc("foo"));
    const old = new Date(Date.now() - 3600_000);
    await utimes(store.pathOf(FOO), old, old);
    await store.put(enc("foo"));
    expect((await stat(store.pathOf(FOO))).mtimeMs).toBeGreaterThan(old.getTime() + 1000);
  });

  it("reads only the range from disk on a ranged get", async () => {
    const bytes = randomBytes(1 << 20);
    const { locator } = await store.put(bytes);
    let bytesRead = 0;
    fs.open = (async (...args: Parameters<typeof fs.open>) => {
      const handle = await saved.open(...args);
      const read = handle.read.bind(handle) as (...a: unknown[]) => Promise<{ bytesRead: number }>;
      (handle as unknown as { read: unknown }).read = async (...a: unknown[]) => {
        const result = await read(...a);
        bytesRead += result.bytesRead;
        return result;
      };
      return handle;
    }) as typeof fs.open;
    const part = await store.get(locator, { range: { start: 1000, end: 5096 } });
    expect(part).toEqual(bytes.subarray(1000, 5096));
    expect(bytesRead).toBe(4096);
  });

  it("survives 50 concurrent puts of one block and leaves no temp file", async () => {
    const bytes = randomBytes(256 * 1024);
    const results = await Promise.all(Array.from({ length: 50 }, () => store.put(bytes)));
    expect(new Set(results.map((r) => r.locator)).size).toBe(1);
    const prefix = results[0]!.locator.slice(0, 3);
    expect(await readdir(join(dir.path, prefix))).toEqual([results[0]!.locator.split("+")[0]]);
    expect(await store.get(results[0]!.locator)).toEqual(bytes);
  });

  it("raises StoreFullError on ENOSPC and leaves nothing behind", async () => {
    fs.open = (async (...args: Parameters<typeof fs.open>) => {
      const handle = await saved.open(...args);
      if (args[1] === "wx") {
        (handle as unknown as { write: unknown }).write = () =>
          Promise.reject(
            Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" }),
          );
      }
      return handle;
    }) as typeof fs.open;
    const error = await store.put(enc("foo")).catch((e) => e);
    expect(error).toBeInstanceOf(StoreFullError);
    expect(error.message).toMatch(/no space left/);
    expect(error.message).toContain(dir.path);
    expect(await readdir(join(dir.path, "acb"))).toEqual([]);
    Object.assign(fs, saved);
    expect(await store.has(FOO)).toBe(false);
  });

  it("wraps other I/O failures in StoreError with the cause", async () => {
    fs.rename =
      (() =>
        Promise.reject(Object.assign(new Error("EACCES"), { code: "EACCES" }))) as typeof fs.rename;
    const error = await store.put(enc("foo")).catch((e) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect(error.cause.code).toBe("EACCES");
    expect(await readdir(join(dir.path, "acb"))).toEqual([]);
  });

  it("removes stale temp files when it opens, keeping fresh ones", async () => {
    await store.put(enc("foo"));
    const stale = join(dir.path, "acb", `.tmp-${FOO_DIGEST}-old`);
    const fresh = join(dir.path, "acb", `.tmp-${FOO_DIGEST}-new`);
    await writeFile(stale, "partial");
    await writeFile(fresh, "partial");
    const old = new Date(Date.now() - 120_000);
    await utimes(stale, old, old);
    const reopened = new FileStore(dir.path);
    await reopened.open();
    const names = await readdir(join(dir.path, "acb"));
    expect(names.sort()).toEqual([FOO_DIGEST, `.tmp-${FOO_DIGEST}-new`].sort());
    expect((await arrayFrom(reopened.list())).map((b) => b.locator)).toEqual([FOO]);
  });

  it("aborts a put before the rename and leaves no file", async () => {
    const controller = new AbortController();
    const reason = new Error("stop");
    fs.rename = ((...args: Parameters<typeof fs.rename>) => {
      controller.abort(reason);
      return saved.rename(...args);
    }) as typeof fs.rename;
    // The abort lands during the write; the store notices before renaming.
    const sync = saved.open;
    fs.open = (async (...args: Parameters<typeof fs.open>) => {
      const handle = await sync(...args);
      if (args[1] === "wx") {
        const close = handle.close.bind(handle);
        (handle as unknown as { close: unknown }).close = async () => {
          controller.abort(reason);
          await close();
        };
      }
      return handle;
    }) as typeof fs.open;
    await expect(store.put(enc("foo"), { signal: controller.signal })).rejects.toBe(reason);
    expect(await readdir(join(dir.path, "acb"))).toEqual([]);
  });

  it("defaults its root from STOWAGE_DIR, then XDG_DATA_HOME, then ~/.local/share", () => {
    const env = process.env;
    const keep = { STOWAGE_DIR: env.STOWAGE_DIR, XDG_DATA_HOME: env.XDG_DATA_HOME };
    try {
      env.STOWAGE_DIR = "/x/stowage";
      expect(defaultStoreDir()).toBe("/x/stowage");
      delete env.STOWAGE_DIR;
      env.XDG_DATA_HOME = "/data";
      expect(defaultStoreDir()).toBe("/data/stowage");
      delete env.XDG_DATA_HOME;
      expect(defaultStoreDir()).toMatch(/\.local[\\/]share[\\/]stowage$/);
    } finally {
      for (const [k, v] of Object.entries(keep)) {
        if (v === undefined) delete env[k];
        else env[k] = v;
      }
    }
  });

  it("rejects an empty root with TypeError", () => {
    expect(() => new FileStore("")).toThrow(TypeError);
  });
});
