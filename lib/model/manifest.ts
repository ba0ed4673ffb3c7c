/**
 * Manifests: files as ordered lists of block segments (locator, offset,
 * length), written as JSON or as Arvados Keep manifest text, so collections
 * move between Stowage and Arvados tools.
 *
 * Keep text has one line per stream (folder):
 * `<stream name> <locator>… <position>:<length>:<file name>…`, where positions
 * index the concatenation of the stream's blocks. Names escape space,
 * controls, `:` and `\` as `\ooo` octal (a space is `\040`). An empty folder
 * is a stream holding one empty file named `\056` (`.`), as Arvados writes
 * it.
 *
 * What is accepted follows Arvados's validator (the Ruby SDK's
 * `Keep::Manifest.validate!`, which the API server applies); where Arvados's
 * components disagree, the Go SDK's loader decides: a manifest ends with a
 * newline, a locator has its `+size`, and a file segment stays inside its
 * stream. {@linkcode Manifest.normalize} and
 * {@linkcode Manifest.portableDataHash} give byte for byte what Arvados's
 * Python and Go SDKs give.
 *
 * @module
 */
import { digest } from "./digest.ts";
import { ManifestError } from "./errors.ts";
import { EMPTY_BLOCK_LOCATOR, parseLocator, parseManifestLocator } from "./locator.ts";

/** A run of bytes inside one block. */
export interface Segment {
  /** The block's locator (hints kept). */
  readonly locator: string;
  /** First byte inside the block. */
  readonly offset: number;
  /** Number of bytes. */
  readonly length: number;
}

/** A file: a name and the segments that make up its bytes, in order. */
export interface ManifestFile {
  /** Path inside the manifest, `/`-separated, no leading `./`. */
  readonly name: string;
  /** Total bytes: the sum of the segments' lengths. */
  readonly size: number;
  /** The file's bytes, in order. */
  readonly segments: readonly Segment[];
}

/** The JSON form of a manifest. */
export interface ManifestJSON {
  /** Format version, 1. */
  version: 1;
  /** The files. */
  files: { name: string; size: number; segments: Segment[] }[];
  /** Empty folders, when there are any. */
  directories?: string[];
}

/** Options for the {@linkcode Manifest} constructor. */
export interface ManifestOptions {
  /**
   * Folders that exist even with no file in them (Arvados keeps empty
   * folders). Folders that do hold files need not be listed. @default {[]}
   */
  directories?: readonly string[];
}

/**
 * An immutable manifest of files (and empty folders).
 *
 * @example From Keep text to JSON and back
 * ```ts
 * import { Manifest } from "stowage";
 * import assert from "node:assert/strict";
 *
 * const text = ". acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:my\\040file.txt\n";
 * const manifest = Manifest.parse(text);
 * assert.equal(manifest.files[0]!.name, "my file.txt");
 * assert.equal(Manifest.parse(JSON.stringify(manifest)).toText(), text);
 * ```
 */
export class Manifest {
  /** The files, in order. */
  readonly files: readonly ManifestFile[];
  /** Empty folders (no file or folder beneath them is listed), as given. */
  readonly directories: readonly string[];

  /**
   * Creates a {@linkcode Manifest}.
   *
   * @param files The files; each segment must fit inside its block, and each
   *   file's size must equal the sum of its segments.
   * @param options Empty folders.
   * @throws {TypeError} On malformed files or segments, a name used twice, or
   *   a name used both for a file and for a folder.
   * @throws {RangeError} On a segment outside its block or a wrong size.
   */
  constructor(files: readonly ManifestFile[] = [], options: ManifestOptions = {}) {
    if (!Array.isArray(files)) {
      throw new TypeError("Cannot construct Manifest: files must be an array");
    }
    const tree = new PathTree();
    this.files = Object.freeze(files.map((file, i) => {
      const checked = checkFile(file, i);
      const conflict = tree.addFile(checked.name);
      if (conflict !== undefined) throw new TypeError(`Cannot construct Manifest: ${conflict}`);
      return checked;
    }));
    const directories = options.directories ?? [];
    if (!Array.isArray(directories)) {
      throw new TypeError("Cannot construct Manifest: directories must be an array");
    }
    this.directories = Object.freeze(directories.map((dir) => {
      if (typeof dir !== "string" || !validPath(dir)) {
        throw new TypeError(`Cannot construct Manifest: invalid folder name '${String(dir)}'`);
      }
      const conflict = tree.addDirectory(dir);
      if (conflict !== undefined) throw new TypeError(`Cannot construct Manifest: ${conflict}`);
      return dir;
    }));
  }

  /**
   * A manifest of one file made of whole blocks.
   *
   * @param name The file's name.
   * @param locators The blocks' locators, in order; sizes are read from them.
   * @returns The manifest.
   * @example
   * ```ts
   * import { Manifest } from "stowage";
   * import assert from "node:assert/strict";
   *
   * const m = Manifest.fromBlocks("foobar", [
   *   "acbd18db4cc2f85cedef654fccc4a4d8+3",
   *   "37b51d194a7513e45b56f6524f2d51f2+3",
   * ]);
   * assert.equal(m.size, 6);
   * ```
   */
  static fromBlocks(name: string, locators: readonly string[]): Manifest {
    const segments = locators.map((locator) => ({
      locator,
      offset: 0,
      length: parseLocator(locator).size,
    }));
    return new Manifest([{ name, size: sum(segments), segments }]);
  }

  /**
   * Parses a manifest given as JSON (text starting with `{`) or Keep text.
   *
   * @param text The manifest.
   * @returns The manifest.
   * @throws {ManifestError} With the line and column of the first problem.
   */
  static parse(text: string): Manifest {
    if (typeof text !== "string") {
      throw new TypeError(`Cannot parse manifest: expected a string, received ${typeof text}`);
    }
    return text.trimStart().startsWith("{") ? Manifest.fromJSON(text) : Manifest.fromText(text);
  }

  /**
   * Parses the JSON form.
   *
   * @param json JSON text, or the already-parsed object.
   * @returns The manifest.
   * @throws {ManifestError} When the JSON is malformed or does not describe a manifest.
   */
  static fromJSON(json: string | ManifestJSON): Manifest {
    let value: unknown = json;
    if (typeof json === "string") {
      try {
        value = JSON.parse(json);
      } catch (error) {
        const [line, column] = jsonErrorPosition(json, error);
        throw new ManifestError(`invalid JSON (${(error as Error).message})`, line, column, {
          cause: error,
        });
      }
    }
    if (
      typeof value !== "object" || value === null || !Array.isArray((value as ManifestJSON).files)
    ) {
      throw new ManifestError("expected an object with a 'files' array", 1, 1);
    }
    const version = (value as ManifestJSON).version;
    if (version !== undefined && version !== 1) {
      throw new ManifestError(`unsupported version ${JSON.stringify(version)}`, 1, 1);
    }
    try {
      const directories = (value as ManifestJSON).directories;
      return new Manifest(
        (value as ManifestJSON).files,
        directories === undefined ? {} : { directories },
      );
    } catch (error) {
      throw new ManifestError((error as Error).message, 1, 1, { cause: error });
    }
  }

  /**
   * Parses Keep manifest text.
   *
   * @param text Newline-terminated stream lines (`""` is the empty manifest).
   * @returns The manifest.
   * @throws {ManifestError} With the line and column of the first problem.
   */
  static fromText(text: string): Manifest {
    const lines = text.split("\n");
    // The Go SDK refuses a manifest without its final newline (the Python
    // reader takes it); Arvados's components disagree, and Go decides.
    const last = lines.pop()!;
    if (last !== "") {
      throw new ManifestError(
        "the manifest does not end with a newline",
        lines.length + 1,
        last.length + 1,
      );
    }
    const parsed: Parsed = { files: new Map(), directories: [], tree: new PathTree() };
    lines.forEach((line, index) => parseStream(line, index + 1, parsed));
    return new Manifest(
      [...parsed.files.values()].map((f) => ({
        name: f.name,
        size: sum(f.segments),
        segments: f.segments,
      })),
      {
        directories: [...new Set(parsed.directories)].filter((d) =>
          parsed.tree.isEmptyDirectory(d)
        ),
      },
    );
  }

  /** Total bytes over all files. */
  get size(): number {
    let total = 0;
    for (const file of this.files) total += file.size;
    return total;
  }

  /** Distinct block locators, in order of first use. */
  blocks(): string[] {
    const seen = new Set<string>();
    for (const file of this.files) for (const s of file.segments) seen.add(s.locator);
    return [...seen];
  }

  /**
   * Finds a file by its path, written as users write paths: `a/b`, `./a/b`,
   * `/a/b` and `a//b` all name `a/b`.
   *
   * @param path The file's path.
   * @returns The file, or `undefined`.
   * @example
   * ```ts
   * import { Manifest } from "stowage";
   * import assert from "node:assert/strict";
   *
   * const m = Manifest.parse("./a acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:b\n");
   * assert.equal(m.file("./a/b")?.size, 3);
   * assert.equal(m.file("/a//b")?.name, "a/b");
   * ```
   */
  file(path: string): ManifestFile | undefined {
    const name = cleanPath(path);
    return name === undefined ? undefined : this.files.find((f) => f.name === name);
  }

  /**
   * The segments of one file, or of every file in order.
   *
   * @param name The file's path (see {@linkcode file}); every file when omitted.
   * @returns The segments, in order.
   * @throws {RangeError} When there is no such file.
   */
  segments(name?: string): Segment[] {
    if (name === undefined) return this.files.flatMap((f) => [...f.segments]);
    const file = this.file(name);
    if (file === undefined) {
      throw new RangeError(`Cannot read file '${name}': the manifest has no such file`);
    }
    return [...file.segments];
  }

  /**
   * The part of the manifest under a folder, with paths relative to it; or,
   * for a file's path, a manifest of that one file under its base name (as
   * the Go SDK's `Extract`).
   *
   * @param path A folder or a file, as users write paths; `.` is everything.
   * @returns The manifest.
   * @throws {RangeError} When nothing in the manifest has that path.
   * @example
   * ```ts
   * import { Manifest } from "stowage";
   * import assert from "node:assert/strict";
   *
   * const m = Manifest.parse(". acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:top 0:3:dir/a 0:3:dir/sub/b\n");
   * assert.deepEqual(m.subtree("dir").files.map((f) => f.name), ["a", "sub/b"]);
   * assert.deepEqual(m.subtree("./dir/a").files.map((f) => f.name), ["a"]);
   * ```
   */
  subtree(path: string): Manifest {
    const clean = cleanPath(path);
    if (clean === undefined) throw new RangeError(`Cannot find '${path}' in the manifest`);
    if (clean === "") return this;
    const file = this.files.find((f) => f.name === clean);
    if (file !== undefined) {
      return new Manifest([{ ...file, name: clean.slice(clean.lastIndexOf("/") + 1) }]);
    }
    const prefix = `${clean}/`;
    const files = this.files.filter((f) => f.name.startsWith(prefix))
      .map((f) => ({ ...f, name: f.name.slice(prefix.length) }));
    const inside = this.directories.filter((d) => d.startsWith(prefix))
      .map((d) => d.slice(prefix.length));
    if (files.length === 0 && inside.length === 0 && !this.directories.includes(clean)) {
      throw new RangeError(`Cannot find '${path}' in the manifest`);
    }
    return new Manifest(files, { directories: inside });
  }

  /**
   * The normalized manifest, as Arvados defines it (Python's
   * `manifest_text(normalize=True)`, the Go SDK's collection file system):
   * files sorted within each folder, folders depth first in byte order,
   * empty segments dropped and a file's touching segments of one block
   * merged, only folders that are empty kept. Its text lists each stream's
   * blocks once, in first-use order, and merges a file's contiguous ranges.
   *
   * @returns The normalized manifest.
   * @example
   * ```ts
   * import { Manifest } from "stowage";
   * import assert from "node:assert/strict";
   *
   * const m = Manifest.parse(
   *   ". 5348b82a029fd9e971a811ce1f71360b+43 0:43:md5sum.txt\n" +
   *     ". 085c37f02916da1cad16f93c54d899b7+41 0:41:md5sum.txt\n",
   * );
   * assert.equal(
   *   m.normalize().toText(),
   *   ". 5348b82a029fd9e971a811ce1f71360b+43 085c37f02916da1cad16f93c54d899b7+41 0:84:md5sum.txt\n",
   * );
   * ```
   */
  normalize(): Manifest {
    const files = [...this.files].sort((a, b) => comparePaths(a.name, b.name)).map((f) => {
      const segments: Segment[] = [];
      for (const s of f.segments) {
        if (s.length === 0) continue;
        const last = segments[segments.length - 1];
        if (
          last !== undefined && last.locator === s.locator && last.offset + last.length === s.offset
        ) {
          segments[segments.length - 1] = { ...last, length: last.length + s.length };
        } else segments.push(s);
      }
      return { name: f.name, size: f.size, segments };
    });
    const directories = emptyDirectories(this.files, this.directories)
      .sort((a, b) => comparePaths(`${a}/`, `${b}/`));
    return new Manifest(files, { directories });
  }

  /**
   * The manifest with every locator hint but the size removed (signatures,
   * cluster hints), as Python's `stripped_manifest`: the form that names the
   * content, whoever signed it.
   *
   * @returns The stripped manifest.
   * @example
   * ```ts
   * import { Manifest } from "stowage";
   * import assert from "node:assert/strict";
   *
   * const m = Manifest.parse(". acbd18db4cc2f85cedef654fccc4a4d8+3+K@xyzzy 0:3:foo\n");
   * assert.equal(m.stripped().toText(), ". acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:foo\n");
   * ```
   */
  stripped(): Manifest {
    return new Manifest(
      this.files.map((f) => ({
        ...f,
        segments: f.segments.map((s) => ({ ...s, locator: stripHints(s.locator) })),
      })),
      { directories: this.directories },
    );
  }

  /**
   * The portable data hash, Arvados's content identifier for a collection:
   * the MD5 of the normalized, stripped manifest text, `+` its length in
   * bytes. Equal manifests have equal hashes, however they were written or
   * signed.
   *
   * @returns `<md5 hex>+<bytes>`.
   * @example
   * ```ts
   * import { Manifest } from "stowage";
   * import assert from "node:assert/strict";
   *
   * const m = Manifest.parse(". acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:foo\n");
   * assert.equal(m.portableDataHash(), "1f4b0bc7583c2a7f9102c395f4ffc5e3+45");
   * ```
   */
  portableDataHash(): string {
    const bytes = new TextEncoder().encode(this.stripped().normalize().toText());
    return `${digest(bytes)}+${bytes.length}`;
  }

  /**
   * The JSON form; `JSON.stringify(manifest)` uses it.
   *
   * @returns The JSON value.
   */
  toJSON(): ManifestJSON {
    const json: ManifestJSON = {
      version: 1,
      files: this.files.map((f) => ({
        name: f.name,
        size: f.size,
        segments: f.segments.map((s) => ({
          locator: s.locator,
          offset: s.offset,
          length: s.length,
        })),
      })),
    };
    if (this.directories.length > 0) json.directories = [...this.directories];
    return json;
  }

  /**
   * The Keep manifest text: one line per folder, folders depth first in
   * byte order (as Arvados writes them), each folder's files in manifest
   * order, an empty folder as a `\056` marker.
   *
   * @returns The text.
   */
  toText(): string {
    const streams = new Map<string, { name: string; file: ManifestFile }[]>();
    for (const file of this.files) {
      const slash = file.name.lastIndexOf("/");
      const dir = slash < 0 ? "" : file.name.slice(0, slash);
      let list = streams.get(dir);
      if (list === undefined) streams.set(dir, list = []);
      list.push({ name: file.name.slice(slash + 1), file });
    }
    const empty = new Set(emptyDirectories(this.files, this.directories));
    const dirs = [...streams.keys(), ...empty].sort((a, b) => comparePaths(`${a}/`, `${b}/`));
    let out = "";
    for (const dir of dirs) {
      const stream = dir === "" ? "." : `./${dir}`;
      const entries = streams.get(dir);
      out += entries === undefined
        ? `${escapeName(stream)} ${EMPTY_BLOCK_LOCATOR} 0:0:\\056\n`
        : formatStream(stream, entries);
    }
    return out;
  }
}

/**
 * Narrows segments to the bytes `[start, end)` of their concatenation.
 *
 * @param segments A file's segments.
 * @param start First byte wanted.
 * @param end One past the last byte wanted.
 * @returns The segments covering exactly that range.
 */
export function sliceSegments(segments: readonly Segment[], start: number, end: number): Segment[] {
  const out: Segment[] = [];
  let position = 0;
  for (const s of segments) {
    const from = Math.max(start, position);
    const to = Math.min(end, position + s.length);
    if (from < to) {
      out.push({ locator: s.locator, offset: s.offset + from - position, length: to - from });
    }
    position += s.length;
    if (position >= end) break;
  }
  return out;
}

/** Files and folders seen so far, to refuse a name used for both. */
class PathTree {
  #files = new Set<string>();
  #dirs = new Set<string>();

  /** Records a file; says what it collides with, if anything. */
  addFile(path: string): string | undefined {
    if (this.#files.has(path)) return `file name '${path}' appears twice`;
    if (this.#dirs.has(path)) return `'${path}' is both a file and a folder`;
    const clash = this.#ancestors(path).find((a) => this.#files.has(a));
    if (clash !== undefined) return `'${clash}' is both a file and a folder (of '${path}')`;
    this.#files.add(path);
    for (const a of this.#ancestors(path)) this.#dirs.add(a);
    return undefined;
  }

  /** Records a folder; says what it collides with, if anything. */
  addDirectory(path: string): string | undefined {
    for (const p of [...this.#ancestors(path), path]) {
      if (this.#files.has(p)) return `'${p}' is both a file and a folder`;
    }
    for (const p of [...this.#ancestors(path), path]) this.#dirs.add(p);
    return undefined;
  }

  /** Whether a folder holds nothing but (possibly) empty folders' markers. */
  isEmptyDirectory(path: string): boolean {
    const prefix = `${path}/`;
    for (const f of this.#files) if (f.startsWith(prefix)) return false;
    return true;
  }

  #ancestors(path: string): string[] {
    const parts = path.split("/");
    return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join("/"));
  }
}

/** The listed folders that hold no file and no other listed folder. */
function emptyDirectories(files: readonly ManifestFile[], dirs: readonly string[]): string[] {
  return [...new Set(dirs)].filter((d) => {
    const prefix = `${d}/`;
    return !files.some((f) => f.name.startsWith(prefix)) &&
      !dirs.some((other) => other.startsWith(prefix));
  });
}

/**
 * Orders paths as Arvados writes streams: component by component, a folder
 * before what is in it, in byte order (UTF-8 byte order is code point order,
 * which is not JavaScript's UTF-16 order).
 */
function comparePaths(a: string, b: string): number {
  const pa = a.split("/");
  const pb = b.split("/");
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const c = compareCodePoints(pa[i]!, pb[i]!);
    if (c !== 0) return c;
  }
  return pa.length - pb.length;
}

function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done ? (y.done ? 0 : -1) : 1;
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
}

/**
 * A path as users write it, as the manifest names it: `./a/b`, `/a/b`,
 * `a//b` and `a/./b` are `a/b`; `.` (or `""`) is the root, `""`; a `..`
 * that climbs above the root names nothing.
 */
function cleanPath(path: string): string | undefined {
  if (typeof path !== "string") return undefined;
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.pop() === undefined) return undefined;
    } else out.push(part);
  }
  return out.join("/");
}

/** A locator with every hint but the size removed. */
function stripHints(locator: string): string {
  const match = /^[0-9a-f]+\+\d+/.exec(locator);
  return match === null ? locator : match[0];
}

/** Lone UTF-16 surrogates: a name with one is not text, and no manifest text can say it. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function checkFile(file: ManifestFile, index: number): ManifestFile {
  const where = `Cannot construct Manifest: file ${index + 1}`;
  if (typeof file !== "object" || file === null) throw new TypeError(`${where} is not an object`);
  const name = file.name;
  if (typeof name !== "string") {
    throw new TypeError(`${where} has no name: expected a string, got ${typeof name}`);
  }
  if (!validPath(name)) {
    throw new TypeError(
      `${where} has an invalid name '${name}': expected non-empty '/'-separated parts, none '.' or '..'`,
    );
  }
  if (LONE_SURROGATE.test(name)) {
    throw new TypeError(`${where} has a name that is not well-formed Unicode (a lone surrogate)`);
  }
  if (!Array.isArray(file.segments)) {
    throw new TypeError(`${where} ('${name}') has no segments array`);
  }
  const segments = file.segments.map((s, j) => {
    const at = `${where} ('${name}') segment ${j + 1}`;
    if (typeof s !== "object" || s === null || typeof s.locator !== "string") {
      throw new TypeError(`${at} needs a locator string`);
    }
    const size = parseManifestLocator(s.locator).size;
    const { offset, length } = s;
    if (
      !Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0
    ) {
      throw new RangeError(`${at} needs non-negative integer offset and length`);
    }
    if (offset + length > size) {
      throw new RangeError(
        `${at} covers [${offset}, ${offset + length}) beyond its block of ${size} bytes`,
      );
    }
    return Object.freeze({ locator: s.locator, offset, length });
  });
  const size = sum(segments);
  if (file.size !== undefined && file.size !== size) {
    throw new RangeError(
      `${where} ('${name}') has size ${file.size} but its segments hold ${size} bytes`,
    );
  }
  return Object.freeze({ name, size, segments: Object.freeze(segments) });
}

function validPath(name: string): boolean {
  if (name.length === 0) return false;
  return name.split("/").every((part) => part !== "" && part !== "." && part !== "..");
}

function sum(segments: readonly Segment[]): number {
  let total = 0;
  for (const s of segments) total += s.length;
  return total;
}

function formatStream(stream: string, entries: { name: string; file: ManifestFile }[]): string {
  const locators: string[] = [];
  const positions = new Map<string, number>();
  let streamSize = 0;
  const tokens: string[] = [];
  for (const { name, file } of entries) {
    const ranges: [number, number][] = [];
    for (const s of file.segments) {
      let at = positions.get(s.locator);
      if (at === undefined) {
        at = streamSize;
        positions.set(s.locator, at);
        locators.push(s.locator);
        streamSize += parseManifestLocator(s.locator).size;
      }
      if (s.length === 0) continue;
      const last = ranges[ranges.length - 1];
      if (last !== undefined && last[0] + last[1] === at + s.offset) last[1] += s.length;
      else ranges.push([at + s.offset, s.length]);
    }
    if (ranges.length === 0) ranges.push([0, 0]);
    for (const [pos, len] of ranges) tokens.push(`${pos}:${len}:${escapeName(name)}`);
  }
  if (locators.length === 0) locators.push(EMPTY_BLOCK_LOCATOR);
  return `${escapeName(stream)} ${locators.join(" ")} ${tokens.join(" ")}\n`;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Escapes what Arvados's SDKs escape: controls, space, `:` and `\`, as `\ooo`. */
function escapeName(name: string): string {
  return name.replace(
    // deno-lint-ignore no-control-regex
    /[\x00-\x20:\\]/g,
    (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`,
  );
}

/** Undoes {@linkcode escapeName}; escapes are bytes, so decode as UTF-8 afterwards. */
function unescapeName(token: string, line: number, column: number): string {
  if (!token.includes("\\")) return token;
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    const ch = token[i]!;
    if (ch === "\\") {
      const octal = token.slice(i + 1, i + 4);
      if (!/^[0-3][0-7]{2}$/.test(octal)) {
        throw new ManifestError(
          `bad escape '\\${octal}': expected three octal digits for a byte (000-377)`,
          line,
          column + i,
        );
      }
      bytes.push(parseInt(octal, 8));
      i += 3;
    } else {
      for (const b of encoder.encode(ch)) bytes.push(b);
    }
  }
  try {
    return decoder.decode(new Uint8Array(bytes));
  } catch (error) {
    throw new ManifestError("escaped name is not valid UTF-8", line, column, { cause: error });
  }
}

/** Position, length and name; positions may have leading zeros (Arvados reads them). */
const FILE_TOKEN = /^([0-9]+):([0-9]+):(.+)$/;

interface Parsed {
  files: Map<string, { name: string; segments: Segment[] }>;
  directories: string[];
  tree: PathTree;
}

function parseStream(line: string, lineNo: number, parsed: Parsed): void {
  if (line.length === 0) throw new ManifestError("empty line", lineNo, 1);
  // deno-lint-ignore no-control-regex
  const control = /[\x00-\x1f]/.exec(line);
  if (control !== null) {
    const code = control[0].charCodeAt(0);
    throw new ManifestError(
      `raw control character U+${
        code.toString(16).toUpperCase().padStart(4, "0")
      }: names write it escaped, as \\${code.toString(8).padStart(3, "0")}`,
      lineNo,
      control.index + 1,
    );
  }
  const tokens: { text: string; column: number }[] = [];
  let column = 1;
  for (const text of line.split(" ")) {
    if (text === "") {
      throw new ManifestError("empty token (two spaces, or a space at the end)", lineNo, column);
    }
    tokens.push({ text, column });
    column += text.length + 1;
  }
  const first = tokens[0]!;
  const streamName = unescapeName(first.text, lineNo, first.column);
  if (streamName !== "." && !(streamName.startsWith("./") && validPath(streamName.slice(2)))) {
    throw new ManifestError(
      `stream name '${first.text}' must be '.' or './' followed by non-empty parts`,
      lineNo,
      first.column,
    );
  }
  const dir = streamName === "." ? "" : streamName.slice(2);
  const starts: number[] = [];
  const locators: string[] = [];
  let streamSize = 0;
  let i = 1;
  // As in the Go SDK's loader: tokens up to the first with a ':' are locators.
  for (; i < tokens.length && !tokens[i]!.text.includes(":"); i++) {
    const token = tokens[i]!;
    try {
      const loc = parseManifestLocator(token.text);
      starts.push(streamSize);
      locators.push(token.text);
      streamSize += loc.size;
    } catch (error) {
      throw new ManifestError((error as Error).message, lineNo, token.column, { cause: error });
    }
  }
  if (locators.length === 0) {
    throw new ManifestError(
      "a stream needs at least one locator after its name",
      lineNo,
      tokens[1]?.column ?? column,
    );
  }
  if (i === tokens.length) {
    throw new ManifestError(
      "a stream needs at least one file token after its locators",
      lineNo,
      column,
    );
  }
  for (; i < tokens.length; i++) {
    const token = tokens[i]!;
    const match = FILE_TOKEN.exec(token.text);
    if (match === null) {
      throw new ManifestError(
        `expected a file token '<position>:<length>:<name>', found '${token.text}'`,
        lineNo,
        token.column,
      );
    }
    const pos = Number(match[1]);
    const len = Number(match[2]);
    if (!Number.isSafeInteger(pos + len) || pos + len > streamSize) {
      // The Ruby validator lets this pass; the Go SDK's loader refuses it.
      throw new ManifestError(
        `file segment ${match[1]}:${match[2]} ends past the stream's ${streamSize} bytes`,
        lineNo,
        token.column,
      );
    }
    const nameColumn = token.column + match[1]!.length + match[2]!.length + 2;
    const base = unescapeName(match[3]!, lineNo, nameColumn);
    if (base === ".") {
      // An empty file named '.' marks a folder that exists even if empty.
      if (len !== 0) {
        throw new ManifestError(
          `a file named '.' must be empty: it marks the folder '${streamName}'`,
          lineNo,
          token.column,
        );
      }
      if (dir !== "") {
        const conflict = parsed.tree.addDirectory(dir);
        if (conflict !== undefined) throw new ManifestError(conflict, lineNo, token.column);
        parsed.directories.push(dir);
      }
      continue;
    }
    if (!validPath(base)) {
      throw new ManifestError(`invalid file name '${match[3]}'`, lineNo, nameColumn);
    }
    const name = dir === "" ? base : `${dir}/${base}`;
    let file = parsed.files.get(name);
    if (file === undefined) {
      const conflict = parsed.tree.addFile(name);
      if (conflict !== undefined) throw new ManifestError(conflict, lineNo, token.column);
      parsed.files.set(name, file = { name, segments: [] });
    }
    if (len === 0) continue;
    let b = upperBound(starts, pos) - 1;
    let at = pos;
    const end = pos + len;
    while (at < end) {
      const blockStart = starts[b]!;
      const blockEnd = b + 1 < starts.length ? starts[b + 1]! : streamSize;
      if (blockEnd > at) {
        const take = Math.min(end, blockEnd) - at;
        file.segments.push({ locator: locators[b]!, offset: at - blockStart, length: take });
        at += take;
      }
      b++;
    }
  }
}

/** Index of the first element greater than `value` in an ascending array. Private to the package. */
export function upperBound(sorted: number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function jsonErrorPosition(text: string, error: unknown): [number, number] {
  const message = error instanceof Error ? error.message : "";
  const reported = /position (\d+)/.exec(message);
  const offset = reported ? Number(reported[1]) : findJsonError(text);
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return [line, offset - before.lastIndexOf("\n")];
}

/** Offset of the first syntax error in JSON text; V8 does not always say. */
function findJsonError(text: string): number {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && " \t\r\n".includes(text[i]!)) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const literal = (word: string): void => {
    if (text.startsWith(word, i)) i += word.length;
    else fail();
  };
  const value = (): void => {
    ws();
    const ch = text[i];
    if (ch === "{") {
      i++;
      ws();
      if (text[i] === "}") return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        string();
        ws();
        if (text[i] !== ":") fail();
        i++;
        value();
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "}") return void i++;
        else fail();
      }
    } else if (ch === "[") {
      i++;
      ws();
      if (text[i] === "]") return void i++;
      for (;;) {
        value();
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === "]") return void i++;
        else fail();
      }
    } else if (ch === '"') string();
    else if (ch === "t") literal("true");
    else if (ch === "f") literal("false");
    else if (ch === "n") literal("null");
    else {
      const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
      if (m === null) fail();
      i += m![0].length;
    }
  };
  const string = (): void => {
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    if (i >= text.length) fail();
    i++;
  };
  try {
    value();
    ws();
    return i;
  } catch (offset) {
    // A stack overflow on deep nesting is no syntax error: report where the
    // scan had got to, never NaN.
    return typeof offset === "number" ? offset : i;
  }
}
