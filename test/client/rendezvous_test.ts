import { describe, expect, it } from "vitest";
import { rendezvousOrder, rendezvousWeight } from "../../lib/client/rendezvous.ts";

const ids = [
  "zzzzz-bi6l4-000000000000000",
  "zzzzz-bi6l4-000000000000001",
  "zzzzz-bi6l4-000000000000002",
  "zzzzz-bi6l4-000000000000003",
  "http://127.0.0.1:25107/",
].map((id) => ({ id }));

describe("rendezvous ordering", () => {
  it("weighs a service by md5(digest + id)", () => {
    expect(rendezvousWeight("acbd18db4cc2f85cedef654fccc4a4d8", ids[0]!.id)).toBe(
      "55876be5e7bf1da3fee425ed2494b87a",
    );
  });

  it("orders services heaviest first, matching fixed vectors", () => {
    // Vectors computed independently (Python hashlib, sorted descending).
    expect(rendezvousOrder("acbd18db4cc2f85cedef654fccc4a4d8", ids).map((s) => s.id)).toEqual([
      "zzzzz-bi6l4-000000000000001",
      "zzzzz-bi6l4-000000000000002",
      "http://127.0.0.1:25107/",
      "zzzzz-bi6l4-000000000000003",
      "zzzzz-bi6l4-000000000000000",
    ]);
    expect(rendezvousOrder("37b51d194a7513e45b56f6524f2d51f2", ids).map((s) => s.id)).toEqual([
      "zzzzz-bi6l4-000000000000002",
      "http://127.0.0.1:25107/",
      "zzzzz-bi6l4-000000000000003",
      "zzzzz-bi6l4-000000000000001",
      "zzzzz-bi6l4-000000000000000",
    ]);
  });

  it("does not depend on the order services are given in", () => {
    const reversed = [...ids].reverse();
    expect(rendezvousOrder("acbd18db4cc2f85cedef654fccc4a4d8", reversed)).toEqual(
      rendezvousOrder("acbd18db4cc2f85cedef654fccc4a4d8", ids),
    );
  });

  it("moves only the blocks a removed service held first place for", () => {
    const digests = Array.from({ length: 200 }, (_, i) => rendezvousWeight(String(i), "seed"));
    let moved = 0;
    for (const d of digests) {
      const before = rendezvousOrder(d, ids)[0]!.id;
      const after = rendezvousOrder(d, ids.slice(0, 4))[0]!.id;
      if (before !== after) {
        moved++;
        expect(before).toBe(ids[4]!.id);
      }
    }
    expect(moved).toBeGreaterThan(0);
  });
});
