import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { readdir, readFile, utimes, writeFile } from "node:fs/promises";
import { type BlockInfo, FileStore, MemoryStore } from "../../mod.ts";
import {
  countTask,
  Crawler,
  type CrawlerClock,
  type CrawlerTask,
  expireTask,
  verifyTask,
} from "../../lib/crawl/mod.ts";
import { join, tempDir } from "../_utils.ts";

/** A clock that only moves when told: sleeping advances it and is recorded. */
function fakeClock(
  start = 1_000_000,
): CrawlerClock & { sleeps: number[]; advance: (ms: number) => void } {
  let now = start;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    advance: (ms) => (now += ms),
    sleep: (ms, signal) => {
      signal?.throwIfAborted();
      sleeps.push(ms);
      now += ms;
      return Promise.resolve();
    },
  };
}

/** A task that "works" 100 ms per block on the fake clock and records what it saw. */
function slowTask(
  clock: { advance: (ms: number) => void },
  seen: string[],
): CrawlerTask<{ n: number }> {
  return {
    name: "slow",
    initialState: () => ({ n: 0 }),
    processBlock(ctx, block: BlockInfo) {
      clock.advance(100);
      ctx.state.n++;
      seen.push(block.locator);
    },
  };
}

async function storeWith(n: number): Promise<MemoryStore> {
  const store = new MemoryStore();
  for (let i = 0; i < n; i++) await store.put(new TextEncoder().encode(`block ${i}`));
  return store;
}

describe("Crawler", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(() => dir.cleanup());

  it("visits every block once per cycle, in digest order", async () => {
    const store = await storeWith(25);
    const clock = fakeClock();
    const seen: string[] = [];
    const crawler = new Crawler(store, slowTask(clock, seen), {
      clock,
      cpuSlice: 1000,
      allowedCpuFraction: 0.5,
    });
    await crawler.runCycle();
    const all = [];
    for await (const b of store.list()) all.push(b.locator);
    expect(seen).toEqual(all);
    expect(crawler.state.lastCycleFinished).toBe(0);
    expect(crawler.state.task.n).toBe(25);
  });

  it("sleeps so busy time stays under the CPU fraction", async () => {
    const store = await storeWith(25);
    const clock = fakeClock();
    const crawler = new Crawler(store, slowTask(clock, []), {
      clock,
      cpuSlice: 1000,
      allowedCpuFraction: 0.25,
    });
    await crawler.runCycle();
    // 25 blocks × 100 ms in 1000 ms slices: slices of 1000, 1000, then 500 to finish.
    // Each full slice is followed by 1000 / 0.25 - 1000 = 3000 ms of sleep.
    expect(clock.sleeps).toEqual([3000, 3000]);
  });

  it("never starts cycles faster than the minimum cycle time", async () => {
    const store = await storeWith(3);
    const clock = fakeClock();
    const controller = new AbortController();
    let cycles = 0;
    const task: CrawlerTask<null> = {
      name: "cycles",
      initialState: () => null,
      processBlock: () => clock.advance(100),
      finishedCycle: () => {
        if (++cycles === 3) controller.abort();
      },
    };
    const crawler = new Crawler(store, task, {
      clock,
      cpuSlice: 1000,
      allowedCpuFraction: 0.5,
      minimumCycleTime: 60_000,
      signal: controller.signal,
    });
    crawler.start();
    await crawler.stopped;
    // Each cycle works 300 ms, then waits out the rest of the minute.
    expect(clock.sleeps).toEqual([59_700, 59_700]);
  });

  it("waits for slowStart before the first slice", async () => {
    const store = await storeWith(1);
    const clock = fakeClock();
    const controller = new AbortController();
    const task: CrawlerTask<null> = {
      name: "once",
      initialState: () => null,
      finishedCycle: () => controller.abort(),
    };
    const crawler = new Crawler(store, task, {
      clock,
      slowStart: 300_000,
      signal: controller.signal,
    });
    crawler.start();
    await crawler.stopped;
    expect(clock.sleeps[0]).toBe(300_000);
  });

  it("resumes after a simulated kill mid-slice, repeating at most one slice", async () => {
    const store = await storeWith(40);
    const statePath = join(dir.path, "state.json");
    const clock = fakeClock();
    const seen: string[] = [];
    // First run: the process "dies" in the third slice (the task throws).
    let calls = 0;
    const dying: CrawlerTask<{ n: number }> = {
      ...slowTask(clock, seen),
      processBlock(ctx, block) {
        if (++calls === 25) throw new Error("killed");
        clock.advance(100);
        ctx.state.n++;
        seen.push(block.locator);
      },
    };
    await expect(
      new Crawler(store, dying, { clock, statePath, cpuSlice: 1000, allowedCpuFraction: 1 })
        .runCycle(),
    ).rejects.toThrow("killed");
    const saved = JSON.parse(await readFile(statePath, "utf8"));
    expect(saved.task.n).toBe(20);
    expect(saved.cycle).toBe(0);
    // Second run picks up from the last save: blocks 21-24 are seen twice (one slice at most).
    const resumed = new Crawler(store, slowTask(clock, seen), {
      clock,
      statePath,
      cpuSlice: 1000,
      allowedCpuFraction: 1,
    });
    await resumed.runCycle();
    expect(resumed.state.task.n).toBe(40);
    expect(new Set(seen).size).toBe(40);
    expect(seen.length - 40).toBeLessThanOrEqual(10);
    const files = await readdir(dir.path);
    expect(files.filter((f) => f.includes(".tmp-"))).toEqual([]);
  });

  it("reports progress: percent, time left, time per cycle, next start", async () => {
    const store = await storeWith(40);
    const clock = fakeClock();
    const reports: ReturnType<Crawler["progress"]>[] = [];
    const crawler = new Crawler(store, slowTask(clock, []), {
      clock,
      cpuSlice: 1000,
      allowedCpuFraction: 0.5,
      onSlice: (p) => reports.push(p),
    });
    await crawler.runCycle();
    const first = reports[0]!;
    expect(first.cycleInProgress).toBe(true);
    expect(first.percentDone).toBeGreaterThan(0);
    expect(first.percentDone).toBeLessThan(100);
    expect(first.estimatedTimeLeft).toBeGreaterThan(0);
    expect(first.timePerCycle).toBeGreaterThan(0);
    const last = reports.at(-1)!;
    expect(last.cycleInProgress).toBe(false);
    expect(last.cyclesFinished).toBe(1);
    expect(last.timePerCycle).toBe(crawler.state.lastCycleElapsed);
    expect(crawler.state.lastCycleElapsed).toBe(4000 + 4 * 1000);
  });

  it("rejects bad options", () => {
    const store = new MemoryStore();
    const task = countTask();
    expect(() => new Crawler(store, task, { allowedCpuFraction: 0 })).toThrow(RangeError);
    expect(() => new Crawler(store, task, { cpuSlice: -1 })).toThrow(RangeError);
  });
});

describe("built-in tasks", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(() => dir.cleanup());

  it("countTask counts per prefix and in total, with a sample", async () => {
    const store = await storeWith(30);
    const crawler = new Crawler(store, countTask({ sampleSize: 5 }), { allowedCpuFraction: 1 });
    await crawler.runCycle();
    const state = crawler.state.task;
    expect(state.lastTotal).toBe(30);
    expect(Object.values(state.current).reduce((a, b) => a + b, 0)).toBe(30);
    expect(state.sample.length).toBe(5);
    expect(state.lastBytes).toBe(store.bytes);
  });

  it("verifyTask quarantines a corrupt block and leaves the rest untouched", async () => {
    const store = new FileStore(join(dir.path, "store"));
    const locators = [];
    for (let i = 0; i < 10; i++) {
      locators.push((await store.put(new TextEncoder().encode(`b${i}`))).locator);
    }
    const bad = locators[4]!;
    await writeFile(store.pathOf(bad), "XX");
    const quarantineDir = join(dir.path, "q");
    const crawler = new Crawler(store, verifyTask({ quarantineDir }), { allowedCpuFraction: 1 });
    await crawler.runCycle();
    const state = crawler.state.task;
    expect(state.lastChecked).toBe(10);
    expect(state.corrupt.map((c) => c.locator)).toEqual([bad]);
    expect(await readdir(quarantineDir)).toHaveLength(1);
    expect(await store.has(bad)).toBe(false);
    for (const l of locators.filter((l) => l !== bad)) {
      expect(await store.get(l)).toBeInstanceOf(Uint8Array);
    }
  });

  it("expireTask removes least recently used blocks down to the budget, sparing recent reads", async () => {
    const store = new FileStore(join(dir.path, "store"));
    const now = Date.now();
    const blocks: { locator: string; age: number }[] = [];
    for (let i = 0; i < 6; i++) {
      const { locator } = await store.put(new Uint8Array(1000).fill(i));
      // Block 0 is the oldest, 5 the newest; block 1 was read 2 minutes ago.
      const age = i === 1 ? 2 * 60_000 : (6 - i) * 3600_000;
      const when = new Date(now - age);
      await utimes(store.pathOf(locator), when, when);
      blocks.push({ locator, age });
    }
    const clock = fakeClock(now);
    const crawler = new Crawler(store, expireTask({ maxBytes: 1000, minAge: 150 * 60_000 }), {
      clock,
      allowedCpuFraction: 1,
    });
    await crawler.runCycle();
    const report = crawler.state.task.last!;
    // Oldest access first: 0 (6 h), 2 (4 h), 3 (3 h) go. The budget wants more,
    // but 4 (2 h), 5 (1 h) and 1 (read 2 min ago) are inside the 2.5 h guard.
    expect(report.expired.map((e) => e.locator)).toEqual([
      blocks[0]!.locator,
      blocks[2]!.locator,
      blocks[3]!.locator,
    ]);
    expect(report.keptRecent).toBe(3);
    for (const i of [1, 4, 5]) expect(await store.has(blocks[i]!.locator)).toBe(true);
    for (const i of [0, 2, 3]) expect(await store.has(blocks[i]!.locator)).toBe(false);
    expect(report.bytes).toBe(6000);
    expect(report.byAccess[0]!.locator).toBe(blocks[0]!.locator);
    expect(report.bySize.length).toBe(6);
  });
});

describe("expireTask and the chunk index", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await dir.cleanup();
  });

  it("drops the index entries that point into the blocks it removes, before removing them", async () => {
    const { BlockClient, FileChunkIndex } = await import("../../mod.ts");
    const { randomBytes } = await import("../_utils.ts");
    const store = new FileStore(join(dir.path, "store"));
    const index = new FileChunkIndex(join(store.root, "chunks"));
    const client = new BlockClient({ services: [store], chunkIndex: index });
    const data = randomBytes(2 * 1024 * 1024);
    const sink = client.writable({
      chunking: "content",
      blockSize: 1024 * 1024,
      chunkSize: { min: 2048, avg: 8192, max: 32768 },
    });
    await new Blob([data]).stream().pipeTo(sink);
    const { manifest } = await sink.result;
    const old = new Date(Date.now() - 24 * 3600_000);
    for (const locator of manifest.blocks()) await utimes(store.pathOf(locator), old, old);
    const crawler = new Crawler(store, expireTask({ maxBytes: 0, minAge: 0, chunkIndex: index }), {
      allowedCpuFraction: 1,
    });
    await crawler.runCycle();
    const report = crawler.state.task.last!;
    expect(report.expired.length).toBe(manifest.blocks().length);
    expect(report.chunkEntriesDropped).toBeGreaterThan(100);
    // Nothing left to point at: the same bytes are stored whole again.
    const again = client.writable({
      chunking: "content",
      blockSize: 1024 * 1024,
      chunkSize: { min: 2048, avg: 8192, max: 32768 },
    });
    await new Blob([data]).stream().pipeTo(again);
    const result = await again.result;
    expect(result.bytesStored).toBe(data.length);
    const back = new Uint8Array(await new Response(client.readable(result.manifest)).arrayBuffer());
    expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
  });
});

describe("expireTask and the key index", () => {
  it("ages out unused keys, and never expires a block a remaining key uses", async () => {
    const { BlockClient, FileKeyIndex, Manifest } = await import("../../mod.ts");
    const dir = await tempDir();
    try {
      const store = new FileStore(join(dir.path, "store"));
      const keys = new FileKeyIndex(join(store.root, "keys"));
      const client = new BlockClient({ services: [store] });
      const enc = (t: string) => new TextEncoder().encode(t);
      const kept = (await client.put(enc("kept by a key"))).locator;
      const partial = (await client.put(enc("kept by an unfinished fetch"))).locator;
      const stale = (await client.put(enc("its key is stale"))).locator;
      const loose = (await client.put(enc("no key"))).locator;
      const day = 86_400_000;
      const now = Date.now();
      const entry = (key: string, locator: string, accessed: number) => ({
        key,
        manifest: Manifest.fromBlocks("f", [locator]).toText(),
        size: 1,
        algorithm: "md5" as const,
        created: accessed,
        fetched: accessed,
        accessed,
      });
      await keys.set(entry("https://h/kept", kept, now));
      await keys.set(entry("https://h/stale", stale, now - 40 * day));
      await keys.set({
        ...entry("https://h/partial", kept, now),
        manifest: "",
        partial: {
          pieces: [{ offset: 0, size: 27, locator: partial }],
          validators: {},
          blockSize: 64,
          algorithm: "md5",
          copies: 1,
          started: now,
        },
      });
      const old = new Date(now - 100 * day);
      for (const l of [kept, partial, stale, loose]) await utimes(store.pathOf(l), old, old);
      const task = expireTask({ maxBytes: 0, minAge: 0, keyIndex: keys, keyMaxAge: 30 * day });
      const crawler = new Crawler(store, task, { allowedCpuFraction: 1 });
      await crawler.runCycle();
      const report = crawler.state.task.last!;
      expect(report.keysExpired).toEqual(["https://h/stale"]);
      expect(report.keptByKeys).toBe(2);
      expect(report.expired.map((e) => e.locator).sort()).toEqual([loose, stale].sort());
      expect(await store.has(kept)).toBe(true);
      expect(await store.has(partial)).toBe(true);
    } finally {
      await dir.cleanup();
    }
  });
});

describe("Crawler over any store with list({ prefix })", () => {
  it("counts the blocks of a Keep block service through /index", async () => {
    const { startKeepServers } = await import("../_keep_servers.ts");
    const { KeepService } = await import("../../mod.ts");
    const env = await startKeepServers(1, () => undefined, { adminToken: "adm" });
    try {
      for (let i = 0; i < 12; i++) {
        await env.servers[0]!.store.put(new TextEncoder().encode(`k${i}`));
      }
      const service = new KeepService(env.urls[0]!, { token: "adm" });
      const crawler = new Crawler(service, countTask(), {
        allowedCpuFraction: 1,
        cpuSlice: 60_000,
      });
      await crawler.runCycle();
      expect(crawler.state.task.lastTotal).toBe(12);
    } finally {
      await env.close();
    }
  });

  it("lists 256 two-digit groups per cycle, not 4096 prefixes, and still visits every prefix", async () => {
    const store = await storeWith(300);
    const prefixes: string[] = [];
    const list = store.list.bind(store);
    store.list = (options) => {
      prefixes.push(options?.prefix ?? "");
      return list(options);
    };
    const visited = new Set<string>();
    const crawler = new Crawler(store, {
      name: "visit",
      initialState: () => ({}),
      processPrefix: (_ctx, prefix, blocks) => {
        visited.add(prefix);
        for (const block of blocks) expect(block.locator.startsWith(prefix)).toBe(true);
      },
    }, { allowedCpuFraction: 1, cpuSlice: 60_000 });
    await crawler.runCycle();
    expect(prefixes.length).toBe(256);
    expect(new Set(prefixes).size).toBe(256);
    expect(prefixes.every((p) => p.length === 2)).toBe(true);
    expect(visited.size).toBe(4096);
  });
});
