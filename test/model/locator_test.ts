import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { EMPTY_BLOCK_LOCATOR, locatorOf } from "../../lib/model/locator.ts";
import { formatLocator, isEmptyBlock, LocatorError, parseLocator } from "../../mod.ts";

const MD5 = "acbd18db4cc2f85cedef654fccc4a4d8";
const SHA = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
const SIG = "1f27a35dd9af37191d63ad8eb8985624451e7b79";

describe("parseLocator", () => {
  it("parses an MD5 locator", () => {
    const loc = parseLocator(`${MD5}+3`);
    expect(loc).toEqual({
      digest: MD5,
      algorithm: "md5",
      size: 3,
      hints: [],
      stripped: `${MD5}+3`,
    });
  });

  it("parses a SHA-256 locator", () => {
    const loc = parseLocator(`${SHA}+3`);
    expect(loc.algorithm).toBe("sha256");
    expect(loc.size).toBe(3);
  });

  it("keeps hints in order and parses the permission hint", () => {
    const text = `${MD5}+3+Kzzzzz+A${SIG}@5835c8bc+Rfoo-bar`;
    const loc = parseLocator(text);
    expect(loc.hints).toEqual(["Kzzzzz", `A${SIG}@5835c8bc`, "Rfoo-bar"]);
    expect(loc.permission).toEqual({ signature: SIG, expiry: 0x5835c8bc });
    expect(loc.stripped).toBe(`${MD5}+3`);
    expect(formatLocator(loc)).toBe(text);
  });

  it("accepts a one-letter hint and hints with @ _ -", () => {
    expect(parseLocator(`${MD5}+3+Z`).hints).toEqual(["Z"]);
    expect(parseLocator(`${MD5}+3+K@ce8i5-bi6l4_x`).hints).toEqual(["K@ce8i5-bi6l4_x"]);
  });

  const rejects: [string, string, RegExp][] = [
    ["empty", "", /empty/],
    ["missing size", MD5, /size is missing/],
    ["negative size", `${MD5}+-3`, /negative/],
    ["non-numeric size", `${MD5}+3x`, /not a decimal/],
    ["hint before size", `${MD5}+K@xyz+3`, /hint comes before the size/],
    ["leading zeros", `${MD5}+03`, /leading zeros/],
    ["double plus", `${MD5}+3++K`, /empty/],
    ["trailing plus", `${MD5}+3+`, /empty/],
    ["leading plus", `+${MD5}+3`, /digest is missing/],
    ["lowercase hint", `${MD5}+3+kfoo`, /uppercase/],
    ["bad hint char", `${MD5}+3+K*`, /uppercase/],
    ["numeric hint after size", `${MD5}+3+4`, /uppercase/],
    ["short digest", `${MD5.slice(1)}+3`, /31 hex digits/],
    ["long digest", `${MD5}0+3`, /33 hex digits/],
    ["uppercase hex", `${MD5.toUpperCase()}+3`, /not lowercase hex/],
    ["non-hex", `${MD5.slice(1)}g+3`, /not lowercase hex/],
    ["bad permission hint", `${MD5}+3+A${SIG}`, /permission hint/],
    ["short expiry", `${MD5}+3+A${SIG}@5835c8b`, /permission hint/],
    ["two permission hints", `${MD5}+3+A${SIG}@5835c8bc+A${SIG}@5835c8bc`, /more than one/],
    ["huge size", `${MD5}+99999999999999999999`, /too large/],
  ];
  for (const [name, input, reason] of rejects) {
    it(`rejects ${name} with a LocatorError saying why`, () => {
      let caught: unknown;
      try {
        parseLocator(input);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(LocatorError);
      expect((caught as LocatorError).message).toMatch(reason);
      expect((caught as LocatorError).input).toBe(input);
    });
  }

  it("throws TypeError for a non-string", () => {
    expect(() => parseLocator(42 as unknown as string)).toThrow(TypeError);
  });
});

describe("locator properties", () => {
  const hex = (n: number) =>
    fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: n, maxLength: n });
  const hint = fc.tuple(
    fc.constantFrom(..."BCDEFGHIJKLMNOPQRSTUVWXYZ"),
    fc.string({
      unit: fc.constantFrom(..."abcXYZ019@_-"),
      maxLength: 12,
    }),
  ).map(([a, b]) => a + b);
  const permission = fc.tuple(hex(40), hex(8)).map(([s, e]) => `A${s}@${e}`);
  const locatorText = fc.tuple(
    fc.oneof(hex(32), hex(64)),
    fc.nat({ max: 2 ** 40 }),
    fc.array(hint, { maxLength: 4 }),
    fc.option(permission),
    fc.nat({ max: 4 }),
  ).map(([digest, size, hints, perm, at]) => {
    const all = [...hints];
    if (perm !== null) all.splice(Math.min(at, all.length), 0, perm);
    return [digest, String(size), ...all].join("+");
  });

  it("format(parse(x)) round-trips", () => {
    fc.assert(fc.property(locatorText, (text) => formatLocator(parseLocator(text)) === text), {
      numRuns: 500,
    });
  });

  it("random strings only ever throw LocatorError", () => {
    const noisy = fc.oneof(
      fc.string(),
      fc.string({ unit: fc.constantFrom(..."0123456789abcdefA@+-_Kz") }),
      locatorText.chain((t) =>
        fc.tuple(fc.nat({ max: t.length }), fc.string({ maxLength: 3 })).map(([i, s]) =>
          t.slice(0, i) + s + t.slice(i + 1)
        )
      ),
    );
    fc.assert(
      fc.property(noisy, (text) => {
        try {
          const loc = parseLocator(text);
          return formatLocator(loc) === text;
        } catch (error) {
          return error instanceof LocatorError;
        }
      }),
      { seed: 20261202, numRuns: 2000 },
    );
  });
});

describe("empty block", () => {
  it("is recognised for MD5 and SHA-256", () => {
    expect(isEmptyBlock(EMPTY_BLOCK_LOCATOR)).toBe(true);
    expect(
      isEmptyBlock("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855+0"),
    ).toBe(true);
    expect(isEmptyBlock(`${MD5}+3`)).toBe(false);
    expect(locatorOf(new TextEncoder().encode("foo"))).toBe(`${MD5}+3`);
    expect(locatorOf(new TextEncoder().encode("foo"), "sha256")).toMatch(/^[0-9a-f]{64}\+3$/);
  });
});
