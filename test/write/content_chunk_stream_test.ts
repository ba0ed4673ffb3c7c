import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { ContentChunkStream, DEFAULT_CHUNK_SIZES } from "../../mod.ts";

/** Seeded pseudo-random bytes (xorshift32): the same in every runtime. */
function seededBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    out[i] = state >>> 24;
  }
  return out;
}

/** Splits bytes into pieces of seeded random sizes from 1 to `most`. */
function pieces(bytes: Uint8Array, most: number, seed: number): Uint8Array[] {
  const sizes = seededBytes(bytes.length, seed);
  const out: Uint8Array[] = [];
  for (let at = 0, k = 0; at < bytes.length; k++) {
    const size = 1 + ((sizes[k % sizes.length]! * 257 + sizes[(k + 1) % sizes.length]!) % most);
    out.push(bytes.slice(at, at + size));
    at += size;
  }
  return out;
}

async function chunk(
  input: Uint8Array[],
  options: ConstructorParameters<typeof ContentChunkStream>[0] = {},
): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  // (Node 20 has no Array.fromAsync.)
  let next = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (next < input.length) controller.enqueue(input[next++]!);
      else controller.close();
    },
  });
  for await (const c of source.pipeThrough(new ContentChunkStream(options))) {
    out.push(c);
  }
  return out;
}

const lengths = (chunks: Uint8Array[]) => chunks.map((c) => c.length);
const sha = (c: Uint8Array) => createHash("sha256").update(c).digest("hex");

describe("ContentChunkStream", () => {
  it("cuts where it always has: the same chunk sizes in every runtime and every version", async () => {
    // Golden figures: a change here changes every stored chunk's boundaries,
    // and so what dedups against what was stored before. Do not update them
    // without a format version.
    const data = seededBytes(4 << 20, 20261202);
    const chunks = await chunk([data]);
    expect(lengths(chunks).slice(0, 12)).toEqual(GOLDEN_FIRST_12);
    expect(chunks.length).toBe(GOLDEN_COUNT);
    expect(sha(new TextEncoder().encode(lengths(chunks).join(",")))).toBe(GOLDEN_LENGTHS_SHA256);
  });

  it("cuts the same bytes the same way whatever sizes they arrive in", async () => {
    const data = seededBytes(2 << 20, 7);
    const whole = lengths(await chunk([data]));
    for (const [most, seed] of [[1, 1], [100, 2], [70_000, 3], [600_000, 4]] as const) {
      const input = most === 1
        ? pieces(data.subarray(0, 300_000), 1, seed)
        : pieces(data, most, seed);
      const expected = most === 1 ? lengths(await chunk([data.subarray(0, 300_000)])) : whole;
      expect(lengths(await chunk(input))).toEqual(expected);
    }
  });

  it("keeps chunks within min and max, around the average", async () => {
    const data = seededBytes(8 << 20, 11);
    const chunks = await chunk([data]);
    const { min, avg, max } = DEFAULT_CHUNK_SIZES;
    for (const c of chunks.slice(0, -1)) {
      expect(c.length).toBeGreaterThanOrEqual(min);
      expect(c.length).toBeLessThanOrEqual(max);
    }
    const mean = data.length / chunks.length;
    expect(mean).toBeGreaterThan(avg * 0.7);
    expect(mean).toBeLessThan(avg * 1.4);
    // Bytes that never cut (all zeros) are cut at max.
    expect(lengths(await chunk([new Uint8Array(3 * max + 5)]))).toEqual([max, max, max, 5]);
    // Every chunk owns a buffer of exactly its length, and together they are the input.
    for (const c of chunks) expect([c.byteOffset, c.buffer.byteLength]).toEqual([0, c.length]);
    expect(Buffer.concat(chunks).equals(Buffer.from(data))).toBe(true);
  });

  it("changes only the chunks around an insert or a delete", async () => {
    const v1 = seededBytes(4 << 20, 99);
    const insert = seededBytes(3000, 5);
    const v2 = new Uint8Array([
      ...v1.subarray(0, 1_000_000),
      ...insert,
      ...v1.subarray(1_000_000, 3_000_000),
      ...v1.subarray(3_004_000), // 4000 bytes deleted
    ]);
    const a = new Set((await chunk([v1])).map(sha));
    const b = (await chunk([v2])).map(sha);
    const fresh = b.filter((h) => !a.has(h));
    // A few chunks around each edit; the rest are the same chunks.
    expect(fresh.length).toBeGreaterThan(0);
    expect(fresh.length).toBeLessThanOrEqual(6);
  });

  it("takes smaller sizes, and refuses bad ones and bad chunks", async () => {
    const data = seededBytes(1 << 20, 3);
    const small = await chunk([data], { min: 256, avg: 1024, max: 4096 });
    expect(small.length).toBeGreaterThan(500);
    expect(Math.max(...lengths(small))).toBeLessThanOrEqual(4096);
    expect(() => new ContentChunkStream({ avg: 3000 })).toThrow(/power of two/);
    expect(() => new ContentChunkStream({ min: 10 })).toThrow(RangeError);
    expect(() => new ContentChunkStream({ min: 8192, avg: 4096 })).toThrow(/min <= avg <= max/);
    const stream = new ContentChunkStream();
    // (A transform runs once the readable side is read.)
    const read = stream.readable.getReader().read().catch((e: unknown) => e);
    const writer = stream.writable.getWriter();
    await expect(writer.write("text" as unknown as Uint8Array)).rejects.toThrow(TypeError);
    expect(await read).toBeInstanceOf(TypeError);
  });
});

// 4 MiB of seededBytes(…, 20261202) at the default sizes (16 / 64 / 256 KiB).
const GOLDEN_FIRST_12 = [
  70079,
  103494,
  53881,
  65756,
  73433,
  70351,
  73311,
  124294,
  27420,
  73660,
  54826,
  38041,
];
const GOLDEN_COUNT = 54;
const GOLDEN_LENGTHS_SHA256 = "88a1801673655b9cf72e5d350ccfdf884a07095a8d92f1d310d9c3fc3041079b";
