import { describe, expect, it } from "vitest";
import { algorithmOf, EMPTY_DIGEST } from "../../lib/model/digest.ts";
import { createHasher, digest } from "../../mod.ts";

const enc = (s: string) => new TextEncoder().encode(s);

// RFC 1321 and FIPS 180-2 test vectors.
const MD5_VECTORS: [string, string][] = [
  ["", "d41d8cd98f00b204e9800998ecf8427e"],
  ["a", "0cc175b9c0f1b6a831c399e269772661"],
  ["abc", "900150983cd24fb0d6963f7d28e17f72"],
  ["message digest", "f96b697d7cb7938d525a2f31aaf161d0"],
  ["abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"],
  [
    "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
    "57edf4a22be3c955ac49da2e2107b67a",
  ],
];
const SHA256_VECTORS: [string, string][] = [
  ["", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
  ["abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
  [
    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  ],
];

describe("digest", () => {
  for (const [input, hex] of MD5_VECTORS) {
    it(`md5 of '${input.slice(0, 20)}' matches the RFC 1321 vector`, () => {
      expect(digest(enc(input))).toBe(hex);
      expect(digest(enc(input), "md5")).toBe(hex);
    });
  }
  for (const [input, hex] of SHA256_VECTORS) {
    it(`sha256 of '${input.slice(0, 20)}' matches the FIPS vector`, () => {
      expect(digest(enc(input), "sha256")).toBe(hex);
    });
  }

  it("sha256 of a million 'a's matches the FIPS vector, fed incrementally", () => {
    const hasher = createHasher("sha256");
    const chunk = enc("a".repeat(1000));
    for (let i = 0; i < 1000; i++) hasher.update(chunk);
    expect(hasher.digest()).toBe(
      "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
    );
  });

  it("incremental md5 equals one-shot regardless of split", () => {
    const bytes = enc(MD5_VECTORS[5]![0]);
    for (const split of [0, 1, 7, 40, 80]) {
      const hasher = createHasher();
      hasher.update(bytes.subarray(0, split));
      hasher.update(bytes.subarray(split));
      expect(hasher.digest()).toBe(MD5_VECTORS[5]![1]);
    }
  });

  it("rejects unknown algorithms with TypeError", () => {
    expect(() => digest(enc("a"), "sha1" as "md5")).toThrow(TypeError);
    expect(() => createHasher("crc32" as "md5")).toThrow(TypeError);
  });

  it("knows algorithms by length and the empty digests", () => {
    expect(algorithmOf(EMPTY_DIGEST.md5)).toBe("md5");
    expect(algorithmOf(EMPTY_DIGEST.sha256)).toBe("sha256");
    expect(algorithmOf("abc")).toBeUndefined();
  });
});
