import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  BlockNotFoundError,
  type BlockStore,
  FileStore,
  getStream,
  Manifest,
  MemoryStore,
  putStream,
} from "../mod.ts";
import {
  collect,
  generatedStream,
  randomBytes,
  sha256OfStream,
  streamOf,
  tempDir,
} from "./_utils.ts";

const MiB = 1024 * 1024;

describe("putStream → getStream round trips through a FileStore", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let store: FileStore;
  beforeEach(async () => {
    dir = await tempDir();
    store = new FileStore(dir.path);
  });
  afterEach(() => dir.cleanup());

  const blockSize = 64 * 1024;
  for (const size of [0, 1, blockSize - 1, blockSize, blockSize + 1, 3 * blockSize + 7]) {
    it(`round-trips ${size} bytes byte for byte`, async () => {
      const { stream, sha256 } = generatedStream(size, size + 1, 10_000);
      const result = await putStream(store, stream, { blockSize, name: "f" });
      expect(result.bytes).toBe(size);
      expect(result.blocks).toBe(Math.ceil(size / blockSize));
      expect(result.manifest.size).toBe(size);
      const back = await sha256OfStream(getStream(store, result.manifest));
      expect(back).toEqual({ hex: sha256(), bytes: size });
      // The manifest survives its text form.
      const again = await sha256OfStream(
        getStream(store, Manifest.parse(result.manifest.toText())),
      );
      expect(again.hex).toBe(sha256());
    });
  }

  it("round-trips a 200 MiB random stream in 64 MiB blocks (SHA-256 equal)", async () => {
    const { stream, sha256 } = generatedStream(200 * MiB, 42);
    const result = await putStream(store, stream, { name: "big" });
    expect(result.blocks).toBe(4);
    expect(result.manifest.files[0]!.segments.map((s) => s.length)).toEqual([
      64 * MiB,
      64 * MiB,
      64 * MiB,
      8 * MiB,
    ]);
    const back = await sha256OfStream(getStream(store, result.manifest));
    expect(back).toEqual({ hex: sha256(), bytes: 200 * MiB });
  });

  it("stores SHA-256 blocks on request", async () => {
    const { manifest } = await putStream(store, streamOf([new Uint8Array([1, 2, 3])]), {
      digest: "sha256",
    });
    expect(manifest.blocks()[0]).toMatch(/^[0-9a-f]{64}\+3$/);
  });
});

describe("getStream", () => {
  let store: BlockStore;
  let data: Uint8Array;
  let manifest: Manifest;
  beforeEach(async () => {
    store = new MemoryStore();
    data = randomBytes(10_000);
    ({ manifest } = await putStream(store, streamOf([data]), { blockSize: 1000, name: "a" }));
  });

  it("streams a byte range", async () => {
    expect(await collect(getStream(store, manifest, { start: 1500, end: 4321 }))).toEqual(
      data.subarray(1500, 4321),
    );
    expect(await collect(getStream(store, manifest, { start: 9999 }))).toEqual(data.subarray(9999));
    expect(await collect(getStream(store, manifest, { start: 10_000 }))).toEqual(new Uint8Array());
  });

  it("streams one file of several", async () => {
    const two = new Manifest([
      ...manifest.files,
      { name: "b", size: 3, segments: [{ locator: manifest.blocks()[2]!, offset: 5, length: 3 }] },
    ]);
    expect(await collect(getStream(store, two, { file: "b" }))).toEqual(data.subarray(2005, 2008));
    expect(() => getStream(store, two, { file: "nope" })).toThrow(RangeError);
  });

  it("rejects a range that does not fit", () => {
    expect(() => getStream(store, manifest, { start: 5, end: 3 })).toThrow(RangeError);
    expect(() => getStream(store, manifest, { end: 10_001 })).toThrow(RangeError);
  });

  it("fetches only as the consumer pulls", async () => {
    let gets = 0;
    const counting: BlockStore = Object.assign(Object.create(store), {
      get: (...args: Parameters<BlockStore["get"]>) => {
        gets++;
        return store.get(...args);
      },
    });
    const reader = getStream(counting, manifest).getReader();
    await reader.read();
    await new Promise((r) => setTimeout(r, 10));
    expect(gets).toBe(1);
    await reader.cancel();
  });

  it("errors with BlockNotFoundError when a block is missing", async () => {
    await store.delete(manifest.blocks()[3]!);
    await expect(collect(getStream(store, manifest))).rejects.toBeInstanceOf(BlockNotFoundError);
  });

  it("cancel aborts the block read in flight", async () => {
    let seen: AbortSignal | undefined;
    const slow: BlockStore = Object.assign(Object.create(store), {
      get: (_l: string, options: { signal?: AbortSignal }) => {
        seen = options.signal;
        return new Promise((_, reject) =>
          options.signal!.addEventListener("abort", () => reject(options.signal!.reason))
        );
      },
    });
    const reader = getStream(slow, manifest).getReader();
    const pending = reader.read().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 5));
    await reader.cancel(new Error("bye"));
    await pending;
    expect(seen?.aborted).toBe(true);
  });

  it("errors when the caller's signal aborts", async () => {
    const controller = new AbortController();
    const reason = new Error("abort");
    const stream = getStream(store, manifest, { signal: controller.signal });
    const reader = stream.getReader();
    await reader.read();
    controller.abort(reason);
    await expect(reader.read()).rejects.toBe(reason);
  });

  it("putStream honours its signal", async () => {
    const reason = new Error("stop");
    const controller = new AbortController();
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(new Uint8Array(100));
        controller.abort(reason);
      },
    });
    await expect(putStream(store, source, { signal: controller.signal, blockSize: 1000 })).rejects
      .toBe(
        reason,
      );
  });
});
