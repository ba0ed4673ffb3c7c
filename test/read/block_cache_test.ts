// Loaders here are async arrows returning fixed bytes, as real loaders would return promises.
// deno-lint-ignore-file require-await
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { readdir, writeFile } from "node:fs/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import { BlockCache, BlockClient, digest, MemoryStore } from "../../mod.ts";
import { fs } from "../../lib/platform/_fs.ts";
import { startKeepServers } from "../_keep_servers.ts";
import { collect, join, randomBytes, runtime, tempDir } from "../_utils.ts";

function block(i: number, size = 1000): { locator: string; bytes: Uint8Array } {
  const bytes = new Uint8Array(size).fill(i);
  return { locator: `${digest(bytes)}+${size}`, bytes };
}

describe("BlockCache", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  const saved = { ...fs };
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    Object.assign(fs, saved);
    await dir.cleanup();
  });

  it("shares one fetch between concurrent gets", async () => {
    const cache = new BlockCache();
    const { locator, bytes } = block(1);
    let loads = 0;
    const load = async () => {
      loads++;
      await new Promise((r) => setTimeout(r, 20));
      return bytes;
    };
    const results = await Promise.all(Array.from({ length: 10 }, () => cache.get(locator, load)));
    expect(loads).toBe(1);
    for (const r of results) expect(r).toEqual(bytes);
    expect(cache.stats.misses).toBe(1);
    expect(cache.stats.hits).toBe(9);
    await cache.get(locator, load);
    expect(loads).toBe(1);
  });

  it("lets one caller abort while the others are served; aborts the fetch when nobody waits", async () => {
    const cache = new BlockCache();
    const { locator, bytes } = block(2);
    let seen: AbortSignal | undefined;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const load = async (signal: AbortSignal) => {
      seen = signal;
      await gate;
      return bytes;
    };
    const quitter = new AbortController();
    const reason = new Error("not me");
    const a = cache.get(locator, load, { signal: quitter.signal });
    const b = cache.get(locator, load);
    quitter.abort(reason);
    await expect(a).rejects.toBe(reason);
    expect(seen!.aborted).toBe(false);
    release();
    expect(await b).toEqual(bytes);

    const other = block(3);
    let signal2: AbortSignal | undefined;
    const controller = new AbortController();
    const lonely = cache.get(other.locator, (s) => {
      signal2 = s;
      return new Promise((_, reject) => s.addEventListener("abort", () => reject(s.reason)));
    }, { signal: controller.signal });
    await new Promise((r) => setTimeout(r, 5));
    controller.abort(new Error("bye"));
    await expect(lonely).rejects.toThrow("bye");
    expect(signal2!.aborted).toBe(true);
  });

  it("does not cache a failed fetch, and wakes every waiter with its error", async () => {
    const cache = new BlockCache();
    const { locator, bytes } = block(4);
    let calls = 0;
    const failing = async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 5));
      throw new Error("boom");
    };
    const waits = await Promise.allSettled([
      cache.get(locator, failing),
      cache.get(locator, failing),
    ]);
    expect(waits.map((w) => w.status)).toEqual(["rejected", "rejected"]);
    expect(calls).toBe(1);
    expect(await cache.get(locator, async () => bytes)).toEqual(bytes);
  });

  it("evicts least recently used first, by slots and by bytes", async () => {
    const cache = new BlockCache({ maxSlots: 3 });
    const blocks = [0, 1, 2, 3].map((i) => block(10 + i));
    for (const b of blocks.slice(0, 3)) await cache.get(b.locator, async () => b.bytes);
    await cache.get(blocks[0]!.locator, async () => blocks[0]!.bytes);
    await cache.get(blocks[3]!.locator, async () => blocks[3]!.bytes);
    expect(cache.holds(blocks[1]!.locator)).toBe(false);
    expect(cache.holds(blocks[0]!.locator)).toBe(true);
    expect(cache.stats.evictions).toBe(1);
    const bySize = new BlockCache({ maxBytes: 2500 });
    for (const b of blocks) await bySize.get(b.locator, async () => b.bytes);
    expect(blocks.filter((b) => bySize.holds(b.locator)).length).toBe(2);
  });

  it("keeps a disk tier across a restart, reloading newest first", async () => {
    const blocks = [0, 1, 2, 3, 4].map((i) => block(20 + i, 10_000));
    const first = new BlockCache({ disk: { dir: dir.path, maxBytes: 1 << 20 } });
    for (const b of blocks) await first.get(b.locator, async () => b.bytes);
    const second = new BlockCache({ disk: { dir: dir.path, maxBytes: 1 << 20 } });
    let loads = 0;
    for (const b of blocks) {
      expect(await second.get(b.locator, async () => (loads++, b.bytes))).toEqual(b.bytes);
    }
    expect(loads).toBe(0);
    // A smaller restart keeps the newest files and trims the oldest.
    const small = new BlockCache({ disk: { dir: dir.path, maxBytes: 25_000 } });
    await small.has(blocks[0]!.locator);
    const files =
      (await Promise.all((await readdir(dir.path)).map((d) => readdir(join(dir.path, d))))).flat();
    expect(files.filter((f) => !f.includes(".tmp-")).length).toBe(2);
  });

  it("drops a damaged disk file and fetches again", async () => {
    const b = block(30, 5000);
    const cache = new BlockCache({ disk: { dir: dir.path } });
    await cache.get(b.locator, async () => b.bytes);
    const digestHex = b.locator.split("+")[0]!;
    await writeFile(join(dir.path, digestHex.slice(0, 3), digestHex), new Uint8Array(5000));
    let loads = 0;
    const fresh = new BlockCache({ disk: { dir: dir.path } });
    expect(await fresh.get(b.locator, async () => (loads++, b.bytes))).toEqual(b.bytes);
    expect(loads).toBe(1);
  });

  it("shrinks and retries once on ENOSPC rather than failing the read", async () => {
    const cache = new BlockCache({
      maxSlots: 1,
      disk: { dir: dir.path, maxBytes: 1 << 20, maxSlots: 8 },
    });
    for (let i = 0; i < 4; i++) {
      const b = block(50 + i, 2000);
      await cache.get(b.locator, async () => b.bytes);
    }
    let failures = 0;
    let written = 0;
    fs.open = (async (...args: Parameters<typeof fs.open>) => {
      if (args[1] === "wx" && failures === 0) {
        failures++;
        throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
      }
      const handle = await saved.open(...args);
      if (args[1] === "wx") written++;
      return handle;
    }) as typeof fs.open;
    const evictionsBefore = cache.stats.evictions;
    const b = block(40, 2000);
    expect(await cache.get(b.locator, async () => b.bytes)).toEqual(b.bytes);
    // One ENOSPC, then one write that went through.
    expect(failures).toBe(1);
    expect(written).toBe(1);
    // Half the disk tier went to make room.
    expect(cache.stats.evictions).toBeGreaterThan(evictionsBefore);
    const files =
      (await Promise.all((await readdir(dir.path)).map((d) => readdir(join(dir.path, d))))).flat();
    expect(files.length).toBeLessThanOrEqual(3);
    Object.assign(fs, saved);
    const again = new BlockCache({ disk: { dir: dir.path } });
    let loads = 0;
    await again.get(b.locator, async () => (loads++, b.bytes));
    expect(loads).toBe(0);
  });

  it("is safe to share between two processes", async () => {
    const root = fileURLToPath(new URL("../..", import.meta.url));
    const library = runtime === "deno"
      ? pathToFileURL(join(root, "mod.ts")).href
      : pathToFileURL(join(root, "dist", "mod.js")).href;
    const script = join(root, "test", "fixtures", "disk_cache_child.mjs");
    const run = () =>
      new Promise<string>((resolve, reject) => {
        const args = runtime === "deno" ? ["run", "-A", script] : [script];
        const child = spawn(process.execPath, [...args, library, dir.path, "20", "50000"], {
          stdio: ["ignore", "pipe", "pipe"],
        });
        let out = "";
        let err = "";
        child.stdout!.on("data", (c: Uint8Array) => (out += new TextDecoder().decode(c)));
        child.stderr!.on("data", (c: Uint8Array) => (err += new TextDecoder().decode(c)));
        child.once(
          "exit",
          (code) => (code === 0 ? resolve(out) : reject(new Error(`child failed: ${err}`))),
        );
      });
    const outs = await Promise.all([run(), run()]);
    for (const out of outs) expect(out).toContain("OK");
    const cache = new BlockCache({ disk: { dir: dir.path, maxBytes: 1 << 30 } });
    for (let i = 0; i < 20; i++) {
      const bytes = new Uint8Array(50_000).fill(i);
      let loads = 0;
      expect(await cache.get(`${digest(bytes)}+50000`, async () => (loads++, bytes))).toEqual(
        bytes,
      );
      expect(loads).toBe(0);
    }
  });
});

describe("BlockClient with the cache", () => {
  it("serves repeated gets from the cache; a manifest read asks for whole blocks", async () => {
    const env = await startKeepServers(2);
    try {
      const client = new BlockClient({
        services: env.urls,
        copies: 1,
        retry: { rounds: 2, baseDelay: 1 },
      });
      const data = randomBytes(2_000_000);
      const sink = client.writable({ blockSize: 200_000 });
      await new Blob([data]).stream().pipeTo(sink);
      const { manifest } = await sink.result;
      const gets = () => env.servers.reduce((n, s) => n + (s.requests.GET ?? 0), 0);
      expect(Buffer.from(await collect(client.readable(manifest))).equals(Buffer.from(data))).toBe(
        true,
      );
      const first = gets();
      expect(first).toBe(10);
      const reader = client.open(manifest);
      expect(
        Buffer.from((await reader.readAt(1_999_000, 1000))!).equals(
          Buffer.from(data.subarray(1_999_000)),
        ),
      ).toBe(true);
      await reader.close();
      expect(gets()).toBe(first);
    } finally {
      await env.close();
    }
  });

  it("works without a cache", async () => {
    const client = new BlockClient({
      services: [new MemoryStore({ id: "m" })],
      copies: 1,
      cache: false,
    });
    const { locator } = await client.put(new TextEncoder().encode("foo"));
    expect(client.cache).toBeUndefined();
    expect(new TextDecoder().decode(await client.get(locator, { range: { start: 1 } }))).toBe("oo");
  });
});
