import { describe, expect, it } from "vitest";
import { constantTimeEqual, permissionSignature } from "../../lib/model/permission.ts";
import { signLocator, verifyLocatorSignature } from "../../lib/server/mod.ts";

// Arvados's own test vector (sdk/go/arvados/blob_signature_test.go).
const knownHash = "acbd18db4cc2f85cedef654fccc4a4d8";
const knownLocator = `${knownHash}+3`;
const knownToken = "hocfupkn2pjhrpgp2vxv8rsku7tvtx49arbc9s4bvu7p7wxqvk";
const knownKey = "13u9fkuccnboeewr0ne3mvapk28epf68a3bhj9q8sb4l6e4e5mkk" +
  "p6nhj2mmpscgu1zze5h5enydxfe3j215024u16ij4hjaiqs5u4pzsl3nczmaoxnc" +
  "ljkm4875xqn4xv058koz3vkptmzhyheiy6wzevzjmdvxhvcqsvr5abhl15c2d4o4" +
  "jhl0s91lojy1mtrzqqvprqcverls0xvy9vai9t1l1lvvazpuadafm71jl4mrwq2y" +
  "gokee3eamvjy8qq1fvy238838enjmy5wzy2md7yvsitp5vztft6j4q866efym7e6" +
  "vu5wm9fpnwjyxfldw3vbo01mgjs75rgo7qioh8z8ij7jpyp8508okhgbbex3ceei" +
  "786u5rw2a9gx743dj3fgq2irk";
const knownSignedLocator = `${knownLocator}+A89118b78732c33104a4d6231e8b5a5fa1e4301e3@7fffffff`;
const ttl = 1209600;

describe("permission signatures", () => {
  it("match Arvados's known vector", () => {
    expect(permissionSignature(knownHash, 0x7fffffff, { key: knownKey, token: knownToken, ttl }))
      .toBe("89118b78732c33104a4d6231e8b5a5fa1e4301e3");
    const now = (0x7fffffff - ttl) * 1000;
    expect(signLocator(knownLocator, { key: knownKey, token: knownToken, ttl, now })).toBe(
      knownSignedLocator,
    );
  });

  it("verify valid, and tell missing, expired and invalid apart", () => {
    const opts = { key: knownKey, token: knownToken, ttl, now: 1_700_000_000_000 };
    expect(verifyLocatorSignature(knownSignedLocator, opts)).toBe("valid");
    expect(verifyLocatorSignature(`${knownLocator}+K@xyzzy${knownSignedLocator.slice(34)}`, opts))
      .toBe("valid");
    expect(verifyLocatorSignature(knownLocator, opts)).toBe("missing");
    expect(verifyLocatorSignature(knownSignedLocator, { ...opts, token: "other" })).toBe("invalid");
    expect(verifyLocatorSignature(knownSignedLocator, { ...opts, key: "other" })).toBe("invalid");
    const tampered = knownSignedLocator.replace("@7fffffff", "@7ffffffe");
    expect(verifyLocatorSignature(tampered, opts)).toBe("invalid");
    const old = signLocator(knownLocator, { key: "k", token: "t", ttl: 60, now: 1_000_000 });
    expect(verifyLocatorSignature(old, { key: "k", token: "t", ttl: 60, now: 1_000_000 })).toBe(
      "valid",
    );
    expect(verifyLocatorSignature(old, { key: "k", token: "t", ttl: 60, now: 1_000_000 + 61_000 }))
      .toBe("expired");
  });

  it("uses the secret of v2 tokens, as Arvados does", () => {
    const v2 = `v2/zzzzz-gj3su-077z32aux8dg2s1/${knownToken}`;
    expect(permissionSignature(knownHash, 0x7fffffff, { key: knownKey, token: v2, ttl }))
      .toBe("89118b78732c33104a4d6231e8b5a5fa1e4301e3");
  });

  it("replaces an existing signature when re-signing", () => {
    const signed = signLocator(`${knownSignedLocator}+Kfoo`, { key: "k", token: "t", now: 0 });
    expect(signed.match(/\+A/g)!.length).toBe(1);
    expect(signed.endsWith("+Kfoo")).toBe(true);
  });

  it("compares strings in constant time, correctly", () => {
    expect(constantTimeEqual("abc", "abc")).toBe(true);
    expect(constantTimeEqual("abc", "abd")).toBe(false);
    expect(constantTimeEqual("abc", "abcd")).toBe(false);
  });
});
