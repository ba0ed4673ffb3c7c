/**
 * The two pipelines end to end on one store: `client.writable()` cuts, hashes
 * and stores; `client.readable(manifest)` reads back. (These cases were
 * putStream's, getStream's and BlockHashStream's before those went.)
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  BlockClient,
  BlockNotFoundError,
  type BlockStore,
  FileStore,
  Manifest,
  MemoryStore,
} from "../../mod.ts";
import {
  collect,
  generatedStream,
  randomBytes,
  sha256OfStream,
  streamOf,
  tempDir,
} from "../_utils.ts";

const MiB = 1024 * 1024;

async function store(client: BlockClient, source: ReadableStream<Uint8Array>, blockSize?: number) {
  const sink = client.writable(blockSize === undefined ? { name: "f" } : { blockSize, name: "f" });
  await source.pipeTo(sink);
  return await sink.result;
}

describe("client.writable() → client.readable() on a FileStore", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let client: BlockClient;
  let files: FileStore;
  beforeEach(async () => {
    dir = await tempDir();
    files = new FileStore(dir.path);
    client = new BlockClient({ services: [files] });
  });
  afterEach(() => dir.cleanup());

  it("defaults to one copy on a single store", () => {
    expect(client.copies).toBe(1);
  });

  const blockSize = 64 * 1024;
  for (const size of [0, 1, blockSize - 1, blockSize, blockSize + 1, 3 * blockSize + 7]) {
    it(`round-trips ${size} bytes byte for byte`, async () => {
      const { stream, sha256 } = generatedStream(size, size + 1, 10_000);
      const result = await store(client, stream, blockSize);
      expect(result.bytes).toBe(size);
      expect(result.blocks).toBe(Math.ceil(size / blockSize));
      expect(result.manifest.size).toBe(size);
      expect(await sha256OfStream(client.readable(result.manifest))).toEqual({
        hex: sha256(),
        bytes: size,
      });
      // The manifest survives its text form.
      const again = await sha256OfStream(
        client.readable(Manifest.parse(result.manifest.toText())),
      );
      expect(again.hex).toBe(sha256());
    });
  }

  it("round-trips a 200 MiB random stream in 64 MiB blocks (SHA-256 equal)", async () => {
    const { stream, sha256 } = generatedStream(200 * MiB, 42);
    const result = await store(client, stream);
    expect(result.blocks).toBe(4);
    expect(result.manifest.files[0]!.segments.map((s) => s.length)).toEqual([
      64 * MiB,
      64 * MiB,
      64 * MiB,
      8 * MiB,
    ]);
    expect(await sha256OfStream(client.readable(result.manifest))).toEqual({
      hex: sha256(),
      bytes: 200 * MiB,
    });
  });

  it("names blocks with MD5 by default and SHA-256 on request", async () => {
    const md5 = await store(client, streamOf([new TextEncoder().encode("foobar")]), 3);
    expect(md5.manifest.blocks()).toEqual([
      "acbd18db4cc2f85cedef654fccc4a4d8+3",
      "37b51d194a7513e45b56f6524f2d51f2+3",
    ]);
    const sha = new BlockClient({ services: [files], algorithm: "sha256" });
    const { manifest } = await store(sha, streamOf([new TextEncoder().encode("foo")]));
    expect(manifest.blocks()).toEqual([
      "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae+3",
    ]);
    expect(await new Response(sha.readable(manifest)).text()).toBe("foo");
  });

  it("rejects an unknown algorithm", () => {
    expect(() => new BlockClient({ services: [files], algorithm: "sha1" as "md5" })).toThrow(
      TypeError,
    );
  });
});

describe("client.readable()", () => {
  let memory: BlockStore;
  let client: BlockClient;
  let data: Uint8Array;
  let manifest: Manifest;
  beforeEach(async () => {
    memory = new MemoryStore();
    client = new BlockClient({ services: [memory] });
    data = randomBytes(10_000);
    ({ manifest } = await store(client, streamOf([data]), 1000));
  });

  it("streams a byte range", async () => {
    expect(await collect(client.readable(manifest, { start: 1500, end: 4321 }))).toEqual(
      data.subarray(1500, 4321),
    );
    expect(await collect(client.readable(manifest, { start: 9999 }))).toEqual(data.subarray(9999));
    expect(await collect(client.readable(manifest, { start: 10_000 }))).toEqual(new Uint8Array());
  });

  it("streams one file of several", async () => {
    const two = new Manifest([
      ...manifest.files,
      { name: "b", size: 3, segments: [{ locator: manifest.blocks()[2]!, offset: 5, length: 3 }] },
    ]);
    expect(await collect(client.readable(two, { file: "b" }))).toEqual(data.subarray(2005, 2008));
    expect(() => client.readable(two, { file: "nope" })).toThrow(RangeError);
  });

  it("rejects a backward range and stops an end past the size at the size", async () => {
    expect(() => client.readable(manifest, { start: 5, end: 3 })).toThrow(RangeError);
    expect(await collect(client.readable(manifest, { end: 10_001 }))).toEqual(data);
  });

  it("errors with BlockNotFoundError when a block is missing", async () => {
    await memory.delete(manifest.blocks()[3]!);
    const cold = new BlockClient({ services: [memory] });
    await expect(collect(cold.readable(manifest))).rejects.toBeInstanceOf(BlockNotFoundError);
  });

  it("cancel aborts the block reads in flight", async () => {
    const seen: AbortSignal[] = [];
    const slow: BlockStore = Object.assign(Object.create(memory), {
      id: "slow",
      get: (_l: string, options: { signal?: AbortSignal }) => {
        seen.push(options.signal!);
        return new Promise((_, reject) =>
          options.signal!.addEventListener("abort", () => reject(options.signal!.reason))
        );
      },
    });
    const reader = new BlockClient({ services: [slow], cache: false }).readable(manifest)
      .getReader();
    const pending = reader.read().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 5));
    await reader.cancel(new Error("bye"));
    await pending;
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((s) => s.aborted)).toBe(true);
  });

  it("errors when the caller's signal aborts", async () => {
    const controller = new AbortController();
    const reason = new Error("abort");
    const reader = client.readable(manifest, { signal: controller.signal }).getReader();
    await reader.read();
    controller.abort(reason);
    await expect(reader.read()).rejects.toBe(reason);
  });

  it("a write honours its signal", async () => {
    const reason = new Error("stop");
    const controller = new AbortController();
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(new Uint8Array(100));
        controller.abort(reason);
      },
    });
    const sink = client.writable({ signal: controller.signal, blockSize: 1000 });
    await expect(source.pipeTo(sink)).rejects.toBe(reason);
    await expect(sink.result).rejects.toBe(reason);
  });
});
