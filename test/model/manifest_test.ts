import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { EMPTY_BLOCK_LOCATOR } from "../../lib/model/locator.ts";
import { Manifest, ManifestError } from "../../mod.ts";
import { sliceSegments } from "../../lib/model/manifest.ts";

const A = "acbd18db4cc2f85cedef654fccc4a4d8+3"; // "foo"
const B = "37b51d194a7513e45b56f6524f2d51f2+3"; // "bar"
const C = "73feffa4b7f6bb68e44cf984c85f6e88+3"; // "baz"

function parseError(text: string): ManifestError {
  try {
    Manifest.parse(text);
  } catch (error) {
    if (error instanceof ManifestError) return error;
    throw error;
  }
  throw new Error(`expected a ManifestError for ${JSON.stringify(text)}`);
}

describe("Manifest", () => {
  it("builds one file from whole blocks", () => {
    const m = Manifest.fromBlocks("data.bin", [A, B]);
    expect(m.size).toBe(6);
    expect(m.files[0]!.segments).toEqual([
      { locator: A, offset: 0, length: 3 },
      { locator: B, offset: 0, length: 3 },
    ]);
    expect(m.toText()).toBe(`. ${A} ${B} 0:6:data.bin\n`);
  });

  it("parses Keep text with several streams, files spanning blocks and escaped names", () => {
    const text = `. ${A} ${B} 0:4:a\\040b.txt 4:2:c\n./sub\\040dir ${C} 0:3:x\\072y\n`;
    const m = Manifest.parse(text);
    expect(m.files.map((f) => [f.name, f.size])).toEqual([
      ["a b.txt", 4],
      ["c", 2],
      ["sub dir/x:y", 3],
    ]);
    expect(m.file("a b.txt")!.segments).toEqual([
      { locator: A, offset: 0, length: 3 },
      { locator: B, offset: 0, length: 1 },
    ]);
    expect(m.file("c")!.segments).toEqual([{ locator: B, offset: 1, length: 2 }]);
    expect(m.toText()).toBe(text);
  });

  it("joins several tokens of one file and keeps empty files", () => {
    const m = Manifest.parse(`. ${A} ${B} 3:3:f 0:3:f 0:0:empty\n`);
    expect(new TextDecoder().decode(new Uint8Array())).toBe("");
    expect(m.file("f")!.segments).toEqual([
      { locator: B, offset: 0, length: 3 },
      { locator: A, offset: 0, length: 3 },
    ]);
    expect(m.file("empty")!.size).toBe(0);
    expect(Manifest.parse(m.toText()).toJSON()).toEqual(m.toJSON());
  });

  it("writes the empty block for a stream of empty files", () => {
    const m = new Manifest([{ name: "e", size: 0, segments: [] }]);
    expect(m.toText()).toBe(`. ${EMPTY_BLOCK_LOCATOR} 0:0:e\n`);
    expect(Manifest.parse(m.toText()).file("e")!.size).toBe(0);
  });

  it("escapes unicode, tabs and backslashes, and reads them back", () => {
    const name = "dir/naïve \t\\ 日本.txt";
    const m = new Manifest([{ name, size: 3, segments: [{ locator: A, offset: 0, length: 3 }] }]);
    const text = m.toText();
    expect(text).toBe(`./dir ${A} 0:3:naïve\\040\\011\\134\\040日本.txt\n`);
    expect(Manifest.parse(text).files[0]!.name).toBe(name);
  });

  it("round-trips through JSON", () => {
    const m = Manifest.parse(`. ${A} ${B} 0:4:a 4:2:b\n`);
    const json = JSON.stringify(m);
    expect(JSON.parse(json).version).toBe(1);
    expect(Manifest.parse(json).toText()).toBe(m.toText());
    expect(Manifest.fromJSON(m.toJSON()).toJSON()).toEqual(m.toJSON());
  });

  it("accepts locators with hints and a missing final newline", () => {
    const signed = `${A}+A1f27a35dd9af37191d63ad8eb8985624451e7b79@5835c8bc`;
    const m = Manifest.parse(`. ${signed} 0:3:f`);
    expect(m.files[0]!.segments[0]!.locator).toBe(signed);
  });

  const bad: [string, string, number, number, RegExp][] = [
    ["an empty line", `. ${A} 0:3:f\n\n`, 2, 1, /empty line/],
    ["a double space", `. ${A}  0:3:f\n`, 1, 38, /empty token/],
    ["a bad stream name", `foo ${A} 0:3:f\n`, 1, 1, /stream name/],
    ["a '..' stream part", `./a/.. ${A} 0:3:f\n`, 1, 1, /stream name/],
    ["no locator", `. 0:3:f\n`, 1, 3, /at least one locator/],
    ["no file token", `. ${A}\n`, 1, 38, /at least one file token/],
    ["a bad locator", `. ${A}+ 0:3:f\n`, 1, 3, /Cannot parse locator/],
    ["a locator after files", `. ${A} 0:3:f ${B}\n`, 1, 44, /expected a file token/],
    ["a segment past the end", `. ${A} 0:4:f\n`, 1, 38, /past the stream/],
    ["a bad escape", `. ${A} 0:3:a\\04\n`, 1, 43, /bad escape/],
    ["an empty name part", `. ${A} 0:3:a//b\n`, 1, 42, /invalid file name/],
  ];
  for (const [what, text, line, column, reason] of bad) {
    it(`rejects ${what} with a ManifestError at line ${line}, column ${column}`, () => {
      const error = parseError(text);
      expect(error.message).toMatch(reason);
      expect([error.line, error.column]).toEqual([line, column]);
    });
  }

  it("rejects malformed JSON with its position", () => {
    const error = parseError('{\n  "files": [,]\n}');
    expect(error.line).toBe(2);
    expect(parseError('{"files": 3}').message).toMatch(/files/);
    expect(parseError('{"version": 2, "files": []}').message).toMatch(/version/);
    expect(
      parseError(
        `{"files": [{"name": "f", "size": 9, "segments": [{"locator": "${A}", "offset": 0, "length": 3}]}]}`,
      )
        .message,
    ).toMatch(/size 9/);
  });

  it("rejects bad constructor input with TypeError or RangeError", () => {
    expect(() => new Manifest([{ name: "", size: 0, segments: [] }])).toThrow(TypeError);
    expect(() => new Manifest([{ name: "../x", size: 0, segments: [] }])).toThrow(TypeError);
    expect(() =>
      new Manifest([{ name: "x", size: 4, segments: [{ locator: A, offset: 1, length: 3 }] }])
    ).toThrow(RangeError);
    expect(() =>
      new Manifest([
        { name: "x", size: 0, segments: [] },
        { name: "x", size: 0, segments: [] },
      ])
    ).toThrow(/twice/);
  });

  it("lists distinct blocks", () => {
    expect(Manifest.parse(`. ${A} ${B} 0:6:a 0:3:b\n`).blocks()).toEqual([A, B]);
  });
});

describe("sliceSegments", () => {
  it("narrows segments to a byte range (property)", () => {
    const seg = fc.record({ offset: fc.nat(5), length: fc.nat(6) });
    fc.assert(
      fc.property(fc.array(seg, { maxLength: 8 }), fc.nat(60), fc.nat(60), (raw, a, b) => {
        const segments = raw.map((s, i) => ({
          locator: `L${i}`,
          offset: s.offset,
          length: s.length,
        }));
        const expand = (list: { locator: string; offset: number; length: number }[]) =>
          list.flatMap((s) =>
            Array.from({ length: s.length }, (_, k) => `${s.locator}:${s.offset + k}`)
          );
        const all = expand(segments);
        const [start, end] = [Math.min(a, b, all.length), Math.min(Math.max(a, b), all.length)];
        expect(expand(sliceSegments(segments, start, end))).toEqual(all.slice(start, end));
      }),
    );
  });
});
