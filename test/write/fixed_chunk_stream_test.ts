import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { FixedChunkStream } from "../../mod.ts";
import { arrayFrom, concat, streamOf } from "../_utils.ts";

async function run(size: number, inputs: Uint8Array[]): Promise<Uint8Array[]> {
  return await arrayFrom(streamOf(inputs).pipeThrough(new FixedChunkStream(size)));
}

describe("FixedChunkStream", () => {
  it("emits exactly size bytes per chunk, the last shorter", async () => {
    const out = await run(4, [new Uint8Array([1, 2, 3, 4, 5, 6]), new Uint8Array([7, 8, 9])]);
    expect(out.map((c) => [...c])).toEqual([[1, 2, 3, 4], [5, 6, 7, 8], [9]]);
  });

  it("emits nothing for an empty stream or empty chunks", async () => {
    expect(await run(4, [])).toEqual([]);
    expect(await run(4, [new Uint8Array(0), new Uint8Array(0)])).toEqual([]);
  });

  it("gives every chunk its own exactly-sized buffer, never a view of the input", async () => {
    const big = new Uint8Array(1000).map((_, i) => i & 0xff);
    const out = await run(64, [big.subarray(10, 900)]);
    for (const chunk of out) {
      expect(chunk.byteOffset).toBe(0);
      expect(chunk.buffer.byteLength).toBe(chunk.length);
      expect(chunk.buffer).not.toBe(big.buffer);
    }
    expect(concat(out)).toEqual(big.subarray(10, 900));
  });

  it("keeps chunk boundaries right for any input chunking (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.uint8Array({ maxLength: 120 }), { maxLength: 20 }),
        async (size, inputs) => {
          const out = await run(size, inputs);
          const all = concat(inputs);
          expect(concat(out)).toEqual(all);
          out.forEach((c, i) => {
            if (i < out.length - 1) expect(c.length).toBe(size);
            else expect(c.length).toBeGreaterThan(0);
            expect(c.length).toBeLessThanOrEqual(size);
          });
          expect(out.length).toBe(Math.ceil(all.length / size));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("rejects a bad size with RangeError", () => {
    for (const size of [0, -1, 1.5, NaN, Infinity]) {
      expect(() => new FixedChunkStream(size)).toThrow(RangeError);
    }
  });

  it("errors with TypeError on a non-Uint8Array chunk", async () => {
    const stream = streamOf(["text" as unknown as Uint8Array]).pipeThrough(
      new FixedChunkStream(4),
    );
    await expect(arrayFrom(stream)).rejects.toThrow(TypeError);
  });

  it("holds memory to one block: a 64 MiB stream in 1 MiB blocks keeps few buffers alive", async () => {
    // Backpressure check: with a slow consumer, the producer is not pulled far ahead.
    let produced = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        if (produced >= 64) return c.close();
        produced++;
        c.enqueue(new Uint8Array(1 << 20));
      },
    }, { highWaterMark: 0 });
    const reader = source.pipeThrough(new FixedChunkStream(1 << 20)).getReader();
    await reader.read();
    await new Promise((r) => setTimeout(r, 20));
    expect(produced).toBeLessThanOrEqual(4);
    await reader.cancel();
  });
});
