import { describe, expect, it } from "vitest";
import { BlockHashStream, FixedChunkStream } from "../mod.ts";
import { arrayFrom, streamOf } from "./_utils.ts";

describe("BlockHashStream", () => {
  it("turns blocks into { locator, bytes } with MD5 by default", async () => {
    const blocks = await arrayFrom(
      streamOf([new TextEncoder().encode("foobar")])
        .pipeThrough(new FixedChunkStream(3))
        .pipeThrough(new BlockHashStream()),
    );
    expect(blocks.map((b) => b.locator)).toEqual([
      "acbd18db4cc2f85cedef654fccc4a4d8+3",
      "37b51d194a7513e45b56f6524f2d51f2+3",
    ]);
    expect(new TextDecoder().decode(blocks[1]!.bytes)).toBe("bar");
  });

  it("hashes with SHA-256 on request", async () => {
    const [block] = await arrayFrom(
      streamOf([new TextEncoder().encode("foo")]).pipeThrough(
        new BlockHashStream({ digest: "sha256" }),
      ),
    );
    expect(block!.locator).toBe(
      "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae+3",
    );
  });

  it("rejects an unknown algorithm", () => {
    expect(() => new BlockHashStream({ digest: "sha1" as "md5" })).toThrow(TypeError);
  });
});
