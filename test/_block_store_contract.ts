// The BlockStore contract: every implementation must pass it.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BlockCorruptError, BlockNotFoundError, type BlockStore } from "../mod.ts";
import { EMPTY_BLOCK_LOCATOR } from "../lib/model/locator.ts";
import { arrayFrom, randomBytes } from "./_utils.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const FOO = "acbd18db4cc2f85cedef654fccc4a4d8+3";

/** Registers the contract's tests for one implementation; `make` gives a fresh, empty store. */
export function blockStoreContract(
  name: string,
  make: () => Promise<{ store: BlockStore; cleanup: () => Promise<void> }>,
): void {
  describe(`${name} (BlockStore contract)`, () => {
    let store: BlockStore;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ store, cleanup } = await make());
    });
    afterEach(() => cleanup());

    it("puts and gets a block by locator", async () => {
      const result = await store.put(enc("foo"));
      expect(result).toEqual({ locator: FOO, replicas: 1 });
      expect(new TextDecoder().decode(await store.get(FOO))).toBe("foo");
      expect(await store.has(FOO)).toBe(true);
    });

    it("accepts locators with hints on get and has", async () => {
      await store.put(enc("foo"));
      const hinted = `${FOO}+A1f27a35dd9af37191d63ad8eb8985624451e7b79@5835c8bc+Kabc`;
      expect(await store.get(hinted)).toEqual(enc("foo"));
      expect(await store.has(hinted)).toBe(true);
    });

    it("stores SHA-256 blocks on request", async () => {
      const { locator } = await store.put(enc("foo"), { algorithm: "sha256" });
      expect(locator).toBe("2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae+3");
      expect(await store.get(locator)).toEqual(enc("foo"));
    });

    it("reads ranges", async () => {
      const bytes = randomBytes(1000);
      const { locator } = await store.put(bytes);
      expect(await store.get(locator, { range: { start: 10, end: 20 } })).toEqual(
        bytes.subarray(10, 20),
      );
      expect(await store.get(locator, { range: { start: 990 } })).toEqual(bytes.subarray(990));
      expect(await store.get(locator, { range: { start: 5, end: 5 } })).toEqual(new Uint8Array());
      await expect(store.get(locator, { range: { start: 10, end: 1001 } })).rejects.toThrow(
        RangeError,
      );
      await expect(store.get(locator, { range: { start: -1 } })).rejects.toThrow(RangeError);
    });

    it("raises BlockNotFoundError for a missing block", async () => {
      const error = await store.get(FOO).catch((e) => e);
      expect(error).toBeInstanceOf(BlockNotFoundError);
      expect(error.locator).toBe(FOO);
      expect(error.message).toContain(FOO);
      expect(await store.has(FOO)).toBe(false);
    });

    it("never needs I/O for the empty block", async () => {
      expect(await store.get(EMPTY_BLOCK_LOCATOR)).toEqual(new Uint8Array());
      expect(await store.has(EMPTY_BLOCK_LOCATOR)).toBe(true);
      expect(await store.put(new Uint8Array())).toEqual({
        locator: EMPTY_BLOCK_LOCATOR,
        replicas: 1,
      });
      expect(await arrayFrom(store.list())).toEqual([]);
    });

    it("rejects a put whose bytes do not match the expected locator, storing nothing", async () => {
      const error = await store.put(enc("fox"), { expect: FOO }).catch((e) => e);
      expect(error).toBeInstanceOf(BlockCorruptError);
      expect(error.message).toContain(FOO);
      expect(await arrayFrom(store.list())).toEqual([]);
    });

    it("accepts a put matching the expected locator", async () => {
      expect((await store.put(enc("foo"), { expect: `${FOO}+Khint` })).locator).toBe(FOO);
    });

    it("deletes blocks", async () => {
      await store.put(enc("foo"));
      expect(await store.delete(FOO)).toBe(true);
      expect(await store.delete(FOO)).toBe(false);
      expect(await store.has(FOO)).toBe(false);
    });

    it("lists blocks in digest order, filtered by prefix", async () => {
      const locators = [];
      for (let i = 0; i < 30; i++) locators.push((await store.put(enc(`block ${i}`))).locator);
      const listed = await arrayFrom(store.list());
      expect(listed.map((b) => b.locator)).toEqual([...locators].sort());
      for (const info of listed) {
        expect(info.size).toBe(Number(info.locator.split("+")[1]));
        expect(info.mtime).toBeGreaterThan(0);
      }
      for (const prefix of ["a", "3f", locators[0]!.slice(0, 3), locators[0]!.slice(0, 6)]) {
        expect((await arrayFrom(store.list({ prefix }))).map((b) => b.locator)).toEqual(
          [...locators].filter((l) => l.startsWith(prefix)).sort(),
        );
      }
      await expect(arrayFrom(store.list({ prefix: "XYZ" }))).rejects.toThrow(TypeError);
    });

    it("honours an aborted signal", async () => {
      const reason = new Error("stop");
      const signal = AbortSignal.abort(reason);
      await expect(store.put(enc("foo"), { signal })).rejects.toBe(reason);
      await store.put(enc("foo"));
      await expect(store.get(FOO, { signal })).rejects.toBe(reason);
    });

    it("makes duplicate puts idempotent", async () => {
      await Promise.all(Array.from({ length: 10 }, () => store.put(enc("foo"))));
      expect((await arrayFrom(store.list())).length).toBe(1);
      expect(await store.get(FOO)).toEqual(enc("foo"));
    });

    it("rejects a non-Uint8Array put with TypeError", async () => {
      await expect(store.put("foo" as unknown as Uint8Array)).rejects.toThrow(TypeError);
    });
  });
}
