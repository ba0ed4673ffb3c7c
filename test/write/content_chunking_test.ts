// client.writable({ chunking: "content" }): content-defined chunks, stored once, packed into blocks.
import { describe, expect, it } from "vitest";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { BlockClient, FileStore, Manifest, MemoryChunkIndex, MemoryStore } from "../../mod.ts";
import { randomBytes, tempDir } from "../_utils.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const small = { min: 2 * KiB, avg: 8 * KiB, max: 32 * KiB };

async function write(
  client: BlockClient,
  data: Uint8Array,
  options: Parameters<BlockClient["writable"]>[0] = {},
) {
  const sink = client.writable({
    chunking: "content",
    chunkSize: small,
    blockSize: MiB,
    ...options,
  });
  // Pieces of uneven sizes, as a network body would come.
  let at = 0;
  let step = 1;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= data.length) return controller.close();
      step = (step * 7919) % 300_000 + 1;
      controller.enqueue(data.slice(at, at + step));
      at += step;
    },
  });
  await source.pipeTo(sink);
  return await sink.result;
}

async function readAll(client: BlockClient, manifest: Manifest): Promise<Uint8Array> {
  return new Uint8Array(await new Response(client.readable(manifest)).arrayBuffer());
}

/** Byte equality without vitest's element-by-element diff (slow on megabytes). */
function expectSame(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.length).toBe(expected.length);
  expect(Buffer.from(actual).equals(Buffer.from(expected))).toBe(true);
}

/** v1 with a few inserts and deletes. */
function edited(v1: Uint8Array, seed: number): Uint8Array {
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const [i, position] of [0.1, 0.35, 0.6, 0.85].entries()) {
    const p = Math.floor(v1.length * position) + seed * 1000;
    parts.push(v1.subarray(at, p));
    if (i % 2 === 0) parts.push(randomBytes(1000 + seed * 100)); // insert
    at = i % 2 === 0 ? p : p + 3000; // delete 3000 bytes every other edit
  }
  parts.push(v1.subarray(at));
  return new Uint8Array(Buffer.concat(parts));
}

describe("content-chunked writes", () => {
  it("stores a stream as chunks packed into blocks, and reads it back byte for byte", async () => {
    const client = new BlockClient({ services: [new MemoryStore()], copies: 1 });
    const data = randomBytes(3 * MiB + 123);
    const result = await write(client, data);
    expectSame(await readAll(client, result.manifest), data);
    expect(result.bytes).toBe(data.length);
    expect(result.bytesStored).toBe(data.length);
    expect(result.chunksReused).toBe(0);
    expect(result.chunks).toBeGreaterThan(data.length / small.max);
    // Packs fill blocks: as few blocks as fixed chunking makes.
    expect(result.blocks).toBe(4);
    for (const block of result.manifest.blocks()) {
      expect(Number(block.split("+")[1])).toBeLessThanOrEqual(MiB);
    }
    // Plain Keep manifest text, and back.
    const text = result.manifest.toText();
    expect(text).toMatch(/^\. ([0-9a-f]{32}\+\d+ )+(\d+:\d+:stream ?)+\n$/);
    expectSame(await readAll(client, Manifest.parse(text)), data);
  });

  it("stores a repeat within one write once", async () => {
    const client = new BlockClient({ services: [new MemoryStore()], copies: 1 });
    const half = randomBytes(2 * MiB);
    const data = new Uint8Array(Buffer.concat([half, half, half]));
    const events: number[] = [];
    const sink = client.writable({ chunking: "content", chunkSize: small, blockSize: MiB });
    sink.addEventListener("progress", (e) => {
      events.push((e as CustomEvent).detail.chunksReused);
    });
    await new Blob([data]).stream().pipeTo(sink);
    const result = await sink.result;
    expectSame(await readAll(client, result.manifest), data);
    // The second and third copies cost a chunk or two where they meet the first.
    expect(result.bytesStored).toBeLessThan(2 * MiB + 3 * small.max);
    expect(result.chunksReused).toBeGreaterThan(result.chunks / 2);
    expect(Math.max(...events)).toBe(result.chunksReused);
  });

  it("finds chunks stored by earlier writes through the FileStore's index, across clients", async () => {
    const dir = await tempDir();
    try {
      const v1 = randomBytes(4 * MiB);
      const v2 = edited(v1, 1);
      const v3 = edited(v2, 2);
      const first = await write(new BlockClient({ services: [dir.path] }), v1);
      expect(first.bytesStored).toBe(v1.length);
      // A new client, as a new process would be: only the index remembers.
      const client = new BlockClient({ services: [new FileStore(dir.path)] });
      const second = await write(client, v2);
      const third = await write(client, v3);
      for (const [result, data] of [[second, v2], [third, v3]] as const) {
        expectSame(await readAll(client, result.manifest), data);
        expect(result.bytesStored).toBeLessThan(data.length / 10);
        expect(result.chunksReused).toBeGreaterThan(result.chunks * 0.8);
      }
      // Earlier versions still read back whole.
      expectSame(await readAll(client, first.manifest), v1);
      const stored = first.bytesStored + second.bytesStored + third.bytesStored;
      expect(stored / (v1.length + v2.length + v3.length)).toBeLessThan(0.45);
    } finally {
      await dir.cleanup();
    }
  });

  it("stores a chunk again when the block the index names is gone, and drops the entry", async () => {
    const dir = await tempDir();
    try {
      const data = randomBytes(3 * MiB);
      const store = new FileStore(dir.path);
      const client = new BlockClient({ services: [store] });
      const first = await write(client, data);
      // The first block goes (expired, or lost).
      const gone = first.manifest.blocks()[0]!;
      await store.delete(gone);
      const index = client.chunkIndex!;
      const again = await write(new BlockClient({ services: [store], chunkIndex: index }), data);
      expectSame(await readAll(client, again.manifest), data);
      // Its chunks were stored again (packed the same way, so the same block
      // is back); the others were found.
      expect(again.bytesStored).toBeGreaterThan(0.9 * MiB);
      expect(again.bytesStored).toBeLessThan(1.2 * MiB);
      expect(await store.has(gone)).toBe(true);
      // The index now points at what is stored: a third write stores nothing.
      expect(
        (await write(new BlockClient({ services: [store], chunkIndex: index }), data)).bytesStored,
      )
        .toBe(0);
    } finally {
      await dir.cleanup();
    }
  });

  it("without an index, still stores repeats within the write once", async () => {
    const client = new BlockClient({
      services: [new MemoryStore()],
      copies: 1,
      chunkIndex: false,
    });
    expect(client.chunkIndex).toBeUndefined();
    const part = randomBytes(MiB);
    const data = new Uint8Array(Buffer.concat([part, part]));
    const result = await write(client, data);
    expectSame(await readAll(client, result.manifest), data);
    expect(result.bytesStored).toBeLessThan(MiB + 3 * small.max);
    // A second write finds nothing: no index.
    expect((await write(client, part)).bytesStored).toBe(part.length);
  });

  it("uses an index it is given, and keeps fixed chunking's locators by default", async () => {
    const index = new MemoryChunkIndex();
    const client = new BlockClient({ services: [new MemoryStore()], copies: 1, chunkIndex: index });
    const data = randomBytes(MiB + 5);
    await write(client, data);
    expect(index.size).toBeGreaterThan(0);
    const fixed = client.writable({ blockSize: MiB });
    await new Blob([data]).stream().pipeTo(fixed);
    const result = await fixed.result;
    expect(result.chunks).toBe(2);
    expect(result.chunksReused).toBe(0);
    expect(result.bytesStored).toBe(data.length);
  });

  it("refuses a bad chunking mode or chunk sizes", () => {
    const client = new BlockClient({ services: [new MemoryStore()], copies: 1 });
    expect(() => client.writable({ chunking: "rabin" as "content" })).toThrow(TypeError);
    expect(() => client.writable({ chunking: "content", chunkSize: { avg: 1000 } })).toThrow(
      RangeError,
    );
    expect(() => client.writable({ chunking: "content", blockSize: 100_000 })).toThrow(
      /largest chunk \(262144 bytes\) must fit in a block of 100000/,
    );
  });

  it("keeps the index in the FileStore's folder, away from its blocks", async () => {
    const dir = await tempDir();
    try {
      const store = new FileStore(dir.path);
      await write(new BlockClient({ services: [store] }), randomBytes(MiB));
      const listed = [];
      for await (const info of store.list()) listed.push(info.locator);
      expect(listed.length).toBe(1);
      await rm(join(dir.path, "chunks"), { recursive: true });
    } finally {
      await dir.cleanup();
    }
  });
});
