// The BlockStore contract, run against every local implementation (S3Store: s3_store_test.ts).
import { describe, expect, it } from "vitest";
import { blockStoreContract } from "../_block_store_contract.ts";
import { BlockCorruptError, type BlockStore, FileStore, MemoryStore } from "../../mod.ts";
import { tempDir } from "../_utils.ts";

const FOO = "acbd18db4cc2f85cedef654fccc4a4d8+3";

const implementations: [
  string,
  () => Promise<{ store: BlockStore; cleanup: () => Promise<void> }>,
][] = [
  [
    "MemoryStore",
    () => Promise.resolve({ store: new MemoryStore(), cleanup: () => Promise.resolve() }),
  ],
  ["FileStore", async () => {
    const dir = await tempDir();
    return { store: new FileStore(dir.path), cleanup: dir.cleanup };
  }],
];

for (const [name, make] of implementations) blockStoreContract(name, make);

describe("PutOptions.verified", () => {
  it("lets a caller that already hashed the bytes skip a second hash, but still checks the size", async () => {
    const store = new MemoryStore();
    const foo = new TextEncoder().encode("foo");
    expect((await store.put(foo, { expect: FOO, verified: true })).locator).toBe(FOO);
    // A size mismatch is still caught even when the caller claims to have verified.
    await expect(store.put(new TextEncoder().encode("fooo"), { expect: FOO, verified: true }))
      .rejects
      .toBeInstanceOf(BlockCorruptError);
  });
});
