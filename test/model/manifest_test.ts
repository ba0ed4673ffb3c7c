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

  it("accepts locators with hints; refuses a missing final newline (the Go SDK's rule)", () => {
    const signed = `${A}+A1f27a35dd9af37191d63ad8eb8985624451e7b79@5835c8bc`;
    const m = Manifest.parse(`. ${signed} 0:3:f\n`);
    expect(m.files[0]!.segments[0]!.locator).toBe(signed);
    expect(() => Manifest.parse(`. ${signed} 0:3:f`)).toThrow(/does not end with a newline/);
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

describe("Manifest: Arvados interoperability", () => {
  const EMPTY = "d41d8cd98f00b204e9800998ecf8427e+0";

  it("reads empty-folder placeholders ('.' and '\\056') and writes them back as Arvados does", () => {
    for (const marker of [".", "\\056"]) {
      const m = Manifest.parse(`./empty_dir ${EMPTY} 0:0:${marker}\n`);
      expect(m.files).toEqual([]);
      expect(m.directories).toEqual(["empty_dir"]);
      expect(m.toText()).toBe(`./empty_dir ${EMPTY} 0:0:\\056\n`);
    }
    const json = Manifest.parse(JSON.stringify(new Manifest([], { directories: ["a b"] })));
    expect(json.directories).toEqual(["a b"]);
  });

  it("refuses a name used both for a file and a folder, naming it", () => {
    const error = (() => {
      try {
        Manifest.parse(`. ${A} 0:1:foo\n./foo ${A} 0:1:bar\n`);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ManifestError);
    expect((error as ManifestError).message).toMatch(/'foo' is both a file and a folder/);
    expect((error as ManifestError).line).toBe(2);
    expect(() => Manifest.parse(`./foo ${A} 0:1:bar\n. ${A} 0:1:foo\n`)).toThrow(/'foo'/);
    expect(() => new Manifest([{ name: "a", size: 0, segments: [] }], { directories: ["a"] }))
      .toThrow(TypeError);
  });

  it("refuses raw control characters in names, with line and column", () => {
    for (
      const [text, column] of [[`./a\tb ${A} 0:1:f\n`, 4], [`. ${A} 0:1:f\u000bg\n`, 43]] as const
    ) {
      const error = (() => {
        try {
          Manifest.parse(text);
        } catch (e) {
          return e as ManifestError;
        }
      })()!;
      expect(error).toBeInstanceOf(ManifestError);
      expect(error.message).toMatch(/raw control character/);
      expect([error.line, error.column]).toEqual([1, column]);
    }
    // Escaped, they are fine.
    expect(Manifest.parse(`. ${A} 0:1:f\\011g\n`).files[0]!.name).toBe("f\tg");
  });

  it("carries +A hints of other shapes through untouched", () => {
    for (const hint of ["Awhatever", "A12345@ffffff"]) {
      const text = `. ${A}+${hint} 0:3:f\n`;
      const m = Manifest.parse(text);
      expect(m.files[0]!.segments[0]!.locator).toBe(`${A}+${hint}`);
      expect(m.toText()).toBe(text);
      expect(m.stripped().toText()).toBe(`. ${A} 0:3:f\n`);
    }
  });

  it("finds paths as users type them", () => {
    const m = Manifest.parse(`./a ${A} 0:3:b\n`);
    for (const path of ["a/b", "./a/b", "/a/b", "a//b", "a/./b", "x/../a/b"]) {
      expect(m.file(path)?.name).toBe("a/b");
    }
    expect(m.file("../a/b")).toBeUndefined();
    expect(() => m.subtree("nope")).toThrow(RangeError);
  });

  it("extracts a folder's subtree, with its empty folders", () => {
    const m = new Manifest([
      { name: "top", size: 3, segments: [{ locator: A, offset: 0, length: 3 }] },
      { name: "d/x", size: 3, segments: [{ locator: B, offset: 0, length: 3 }] },
    ], { directories: ["d/empty"] });
    const sub = m.subtree("d/");
    expect(sub.files.map((f) => f.name)).toEqual(["x"]);
    expect(sub.directories).toEqual(["empty"]);
    expect(sub.normalize().toText()).toBe(`. ${B} 0:3:x\n./empty ${EMPTY} 0:0:\\056\n`);
  });

  it("escapes what Arvados escapes and nothing else", () => {
    const m = new Manifest([{ name: "a b:c\\d\u007fé", size: 0, segments: [] }]);
    expect(m.toText()).toBe(`. ${EMPTY} 0:0:a\\040b\\072c\\134d\u007fé\n`);
  });

  it("writes streams depth first in byte order, whatever the file order", () => {
    const file = (name: string) => ({ name, size: 0, segments: [] });
    const m = new Manifest([file("b/x"), file("a b/y"), file("a/z"), file("top")]);
    expect(m.toText().split("\n").map((l) => l.split(" ")[0])).toEqual([
      ".",
      "./a",
      "./a\\040b",
      "./b",
      "",
    ]);
  });

  it("refuses JSON names that are not well-formed Unicode, and never reports NaN", () => {
    const lone = JSON.stringify({
      version: 1,
      files: [{ name: "a b\ud800", size: 0, segments: [] }],
    });
    expect(() => Manifest.parse(lone)).toThrow(/well-formed Unicode/);
    const deep = `{"files":${"[".repeat(20_000)}`;
    const error = (() => {
      try {
        Manifest.parse(deep);
      } catch (e) {
        return e as ManifestError;
      }
    })()!;
    expect(error).toBeInstanceOf(ManifestError);
    expect(Number.isInteger(error.line) && Number.isInteger(error.column)).toBe(true);
    expect(error.message).not.toMatch(/NaN/);
  });
});

describe("Manifest.parse fuzzing (fixed seed, bounded)", () => {
  const valid = `./dir ${A} 0:3:a.txt 1:2:b\\040c\n. ${A} 0:0:\\056\n`;
  const noisy = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: fc.constantFrom(...' .:/\\0123456789abcdef+\n{}[]",:'), maxLength: 200 }),
    // Mutations of a valid manifest (text and JSON): cut, inserted and replaced characters.
    fc.constantFrom(valid, JSON.stringify(Manifest.parse(valid).toJSON())).chain((t) =>
      fc.tuple(fc.nat({ max: t.length }), fc.nat(4), fc.string({ maxLength: 4 })).map((
        [i, cut, s],
      ) => t.slice(0, i) + s + t.slice(i + cut))
    ),
    // Deeply nested JSON, closed or not.
    fc.tuple(fc.integer({ min: 1, max: 10_000 }), fc.boolean()).map(([depth, closed]) =>
      "[".repeat(depth) + (closed ? "]".repeat(depth) : "")
    ),
  );

  it("only ever throws ManifestError, with positions that are numbers, and what it accepts round-trips", () => {
    fc.assert(
      fc.property(noisy, (text) => {
        let manifest: Manifest;
        try {
          manifest = Manifest.parse(text);
        } catch (error) {
          if (!(error instanceof ManifestError)) return false;
          return !/NaN|'undefined'|'null'/.test(error.message);
        }
        // Whatever it accepts, it writes back as text it reads the same way.
        return Manifest.parse(manifest.toText()).toText() === manifest.toText();
      }),
      { seed: 20261202, numRuns: 1500 },
    );
  });
});
