/**
 * Manifests against Arvados's own test material (test/fixtures/arvados/, each
 * file naming the Arvados source file and commit it was taken from):
 *
 * - ruby_validate.json: the Ruby SDK's `Keep::Manifest.validate!` verdicts
 *   (the API server's validator). Where the Go SDK's loader disagrees (a bare
 *   digest without `+size`, a segment past the end of its stream), the Go
 *   verdict is the expected one and the Ruby one is kept as `rubyValid`.
 * - go_extract.json: the Go SDK's TestNormalizeManifest (`Manifest.Extract`).
 * - python_collections.json: the Python SDK's normalization, escaping and
 *   empty-folder cases, and two real manifests from its test data.
 * - api_collections.json: the API server's collection fixtures, with their
 *   portable data hashes.
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { Manifest, ManifestError } from "../../mod.ts";

const dir = new URL("../fixtures/arvados/", import.meta.url);
const load = <T>(name: string): T => JSON.parse(readFileSync(new URL(name, dir), "utf8")) as T;

/**
 * The same files with the same bytes, and the same empty folders, whatever
 * their order in the text (a file's touching segments of a block compare
 * merged, as the text writes them).
 */
function sameContent(a: Manifest, b: Manifest): void {
  const byName = (m: Manifest) =>
    Object.fromEntries(
      m.normalize().files.map((f) => [f.name, f.segments.map((s) => ({ ...s }))]),
    );
  expect(byName(a)).toEqual(byName(b));
  expect([...a.normalize().directories]).toEqual([...b.normalize().directories]);
}

/** Go's PortableDataHash of a manifest text as stored: every hint but the size stripped. */
function goPortableDataHash(text: string): string {
  const stripped = text.replace(/(^| )([0-9a-f]{32}\+\d+)\+[^ \n]+/gm, "$1$2");
  const bytes = new TextEncoder().encode(stripped);
  return `${createHash("md5").update(bytes).digest("hex")}+${bytes.length}`;
}

describe("Arvados: the validator's verdicts", () => {
  const { cases } = load<{
    cases: { valid: boolean; manifest: string; rubyValid?: boolean; goReason?: string }[];
  }>("ruby_validate.json");

  it(`has the ${cases.length} cases of sdk/ruby/test/test_keep_manifest.rb`, () => {
    expect(cases.length).toBeGreaterThan(100);
    expect(cases.filter((c) => c.goReason !== undefined).length).toBe(3);
  });

  for (const c of cases) {
    it(
      `${c.valid ? "accepts" : "refuses"} ${JSON.stringify(c.manifest)}${
        c.goReason ? ` (${c.goReason})` : ""
      }`,
      () => {
        if (c.valid) {
          const m = Manifest.fromText(c.manifest);
          sameContent(Manifest.fromText(m.toText()), m);
        } else {
          expect(() => Manifest.fromText(c.manifest)).toThrow(ManifestError);
        }
      },
    );
  }
});

describe("Arvados: normalization", () => {
  const go = load<{
    cases: { manifest: string; path: string; relocate: string; normalized: string }[];
  }>("go_extract.json");
  // Extract(path, relocate) also renames; Stowage's subtree(path) does not, so
  // only the cases that keep names apply.
  const applicable = go.cases.filter((c) => c.relocate === "." || c.relocate === "");

  it("covers the Go SDK's Extract cases that keep names", () => {
    expect(applicable.length).toBeGreaterThanOrEqual(8);
  });

  for (const [i, c] of applicable.entries()) {
    it(`Go TestNormalizeManifest case ${i + 1}: Extract(${JSON.stringify(c.path)})`, () => {
      if (c.normalized === "") {
        // Go's Extract gives "" (and an error) for a manifest it cannot read.
        expect(() => Manifest.fromText(c.manifest)).toThrow(ManifestError);
        return;
      }
      const m = Manifest.fromText(c.manifest);
      expect(m.subtree(c.path).normalize().toText()).toBe(c.normalized);
    });
  }

  const py = load<{
    normalize: { manifest: string; normalized: string; file?: string }[];
    special: { manifest: string; name: string }[];
    portable: { manifest: string; normalized: string }[];
    emptyDirectories: { directories: string[]; normalized: string }[];
  }>("python_collections.json");

  for (const [i, c] of py.normalize.entries()) {
    it(`Python test_normalized_collection case ${i + 1}${c.file ? ` (${c.file})` : ""}`, () => {
      const m = Manifest.fromText(c.manifest);
      expect(m.normalize().toText()).toBe(c.normalized);
      // Normalizing twice changes nothing; the text parses back to the same content.
      expect(Manifest.fromText(c.normalized).normalize().toText()).toBe(c.normalized);
      sameContent(Manifest.fromText(m.toText()), m);
    });
  }

  for (const c of py.special) {
    it(`keeps the escaped name ${JSON.stringify(c.name)} (Python test_other_special_chars_on_file_token)`, () => {
      const m = Manifest.fromText(c.manifest);
      expect(m.files.map((f) => f.name)).toEqual([c.name]);
      expect(m.normalize().toText()).toBe(c.manifest);
    });
  }

  for (const c of py.portable) {
    it(`writes names literally named '\\056' as Python does: ${JSON.stringify(c.manifest)}`, () => {
      expect(Manifest.fromText(c.manifest).stripped().normalize().toText()).toBe(c.normalized);
    });
  }

  for (const c of py.emptyDirectories) {
    it(`writes the empty folder ${JSON.stringify(c.directories[0])} as Python does`, () => {
      const m = new Manifest([], { directories: c.directories });
      expect(m.normalize().toText()).toBe(c.normalized);
      expect(Manifest.fromText(c.normalized).directories).toEqual(c.directories);
    });
  }
});

describe("Arvados: the API server's collection fixtures", () => {
  const { fixtures } = load<{
    fixtures: { name: string; manifest: string; portableDataHash: string }[];
  }>("api_collections.json");

  // Fixtures are loaded into the database as they are: a few carry a made-up
  // hash, and a few a manifest Arvados's validator (or the Go SDK) refuses.
  const consistent = fixtures.filter((f) => goPortableDataHash(f.manifest) === f.portableDataHash);
  const readable = fixtures.filter((f) => {
    try {
      Manifest.fromText(f.manifest);
      return true;
    } catch {
      return false;
    }
  });

  it("reads the fixtures Arvados would accept, and round-trips each", () => {
    expect(fixtures.length).toBe(85);
    expect(consistent.length).toBe(82);
    for (const f of readable) {
      const m = Manifest.fromText(f.manifest);
      sameContent(Manifest.fromText(m.toText()), m);
    }
    expect(readable.length).toBe(85);
  });

  it("computes the listed portable data hash for every fixture stored in normal form", () => {
    let checked = 0;
    for (const f of readable.filter((f) => consistent.includes(f))) {
      const m = Manifest.fromText(f.manifest);
      const stored = f.manifest.replace(/(^| )([0-9a-f]{32}\+\d+)\+[^ \n]+/gm, "$1$2");
      if (m.stripped().normalize().toText() !== stored) continue;
      expect(m.portableDataHash(), f.name).toBe(f.portableDataHash);
      checked++;
    }
    expect(checked).toBe(80);
  });
});
