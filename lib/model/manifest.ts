/**
 * Manifests: one or more files, each an ordered list of block segments
 * (locator, offset, length), serialised as JSON or as Keep manifest text so
 * collections move between Stowage and Arvados tools.
 *
 * Keep text has one line per stream (folder):
 * `<stream name> <locator>… <position>:<length>:<file name>…`, where positions
 * index the concatenation of the stream's blocks. Names escape whitespace,
 * `:`, `\` and control characters as `\ooo` octal (a space is `\040`).
 *
 * @module
 */
import { ManifestError } from "./errors.ts";
import { EMPTY_BLOCK_LOCATOR, parseLocator } from "./locator.ts";

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
}

/**
 * An immutable manifest of files; see the module doc.
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

  /**
   * Creates a {@linkcode Manifest}.
   *
   * @param files The files; each segment must fit inside its block, and each
   *   file's size must equal the sum of its segments.
   * @throws {TypeError} On malformed files or segments.
   * @throws {RangeError} On a segment outside its block or a wrong size.
   */
  constructor(files: readonly ManifestFile[] = []) {
    if (!Array.isArray(files)) {
      throw new TypeError("Cannot construct Manifest: files must be an array");
    }
    const names = new Set<string>();
    this.files = Object.freeze(files.map((file, i) => {
      const checked = checkFile(file, i);
      if (names.has(checked.name)) {
        throw new TypeError(`Cannot construct Manifest: file name '${checked.name}' appears twice`);
      }
      names.add(checked.name);
      return checked;
    }));
  }

  /**
   * A manifest of one file made of whole blocks.
   *
   * @param name The file's name.
   * @param locators The blocks' locators, in order; sizes are read from them.
   * @returns The manifest.
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
      return new Manifest((value as ManifestJSON).files);
    } catch (error) {
      throw new ManifestError((error as Error).message, 1, 1, { cause: error });
    }
  }

  /**
   * Parses Keep manifest text.
   *
   * @param text One or more newline-terminated stream lines.
   * @returns The manifest.
   * @throws {ManifestError} With the line and column of the first problem.
   */
  static fromText(text: string): Manifest {
    const files = new Map<string, { name: string; segments: Segment[] }>();
    const lines = text.split("\n");
    if (lines[lines.length - 1] === "") lines.pop();
    lines.forEach((line, index) => parseStream(line, index + 1, files));
    return new Manifest(
      [...files.values()].map((f) => ({
        name: f.name,
        size: sum(f.segments),
        segments: f.segments,
      })),
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
   * Finds a file by name.
   *
   * @param name The file's name.
   * @returns The file, or `undefined`.
   */
  file(name: string): ManifestFile | undefined {
    return this.files.find((f) => f.name === name);
  }

  /**
   * The segments of one file, or of every file in order.
   *
   * @param name The file; every file when omitted.
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

  /** The JSON form; `JSON.stringify(manifest)` uses it. */
  toJSON(): ManifestJSON {
    return {
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
  }

  /** The Keep manifest text: one line per folder, in order of first appearance. */
  toText(): string {
    const streams = new Map<string, { name: string; file: ManifestFile }[]>();
    for (const file of this.files) {
      const slash = file.name.lastIndexOf("/");
      const dir = slash < 0 ? "." : `./${file.name.slice(0, slash)}`;
      const base = file.name.slice(slash + 1);
      let list = streams.get(dir);
      if (list === undefined) streams.set(dir, list = []);
      list.push({ name: base, file });
    }
    let out = "";
    for (const [dir, entries] of streams) out += formatStream(dir, entries);
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

function checkFile(file: ManifestFile, index: number): ManifestFile {
  const where = `Cannot construct Manifest: file ${index + 1}`;
  if (typeof file !== "object" || file === null) throw new TypeError(`${where} is not an object`);
  const name = file.name;
  if (typeof name !== "string" || !validPath(name)) {
    throw new TypeError(
      `${where} has an invalid name '${
        String(name)
      }': expected non-empty '/'-separated parts, none '.' or '..'`,
    );
  }
  if (!Array.isArray(file.segments)) {
    throw new TypeError(`${where} ('${name}') has no segments array`);
  }
  const segments = file.segments.map((s, j) => {
    const at = `${where} ('${name}') segment ${j + 1}`;
    if (typeof s !== "object" || s === null || typeof s.locator !== "string") {
      throw new TypeError(`${at} needs a locator string`);
    }
    const size = parseLocator(s.locator).size;
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

function formatStream(dir: string, entries: { name: string; file: ManifestFile }[]): string {
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
        streamSize += parseLocator(s.locator).size;
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
  return `${escapeName(dir)} ${locators.join(" ")} ${tokens.join(" ")}\n`;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Escapes whitespace, controls, `:` and `\` as `\ooo`, as Keep does. */
function escapeName(name: string): string {
  return name.replace(
    // Control characters are exactly what Keep escapes.
    // deno-lint-ignore no-control-regex
    /[\x00-\x20:\\\x7f]/g,
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
          `bad escape '\\${octal}': expected three octal digits`,
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

const FILE_TOKEN = /^(0|[1-9][0-9]*):(0|[1-9][0-9]*):(.+)$/;

function parseStream(
  line: string,
  lineNo: number,
  files: Map<string, { name: string; segments: Segment[] }>,
): void {
  if (line.length === 0) throw new ManifestError("empty line", lineNo, 1);
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
  const starts: number[] = [];
  const locators: string[] = [];
  let streamSize = 0;
  let i = 1;
  for (; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (FILE_TOKEN.test(token.text)) break;
    try {
      const loc = parseLocator(token.text);
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
      throw new ManifestError(
        `file segment ${pos}:${len} ends past the stream's ${streamSize} bytes`,
        lineNo,
        token.column,
      );
    }
    const nameColumn = token.column + match[1]!.length + match[2]!.length + 2;
    const base = unescapeName(match[3]!, lineNo, nameColumn);
    if (!validPath(base)) {
      throw new ManifestError(`invalid file name '${match[3]}'`, lineNo, nameColumn);
    }
    const name = streamName === "." ? base : `${streamName.slice(2)}/${base}`;
    let file = files.get(name);
    if (file === undefined) files.set(name, file = { name, segments: [] });
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

/** Index of the first element greater than `value` in an ascending array. */
function upperBound(sorted: number[], value: number): number {
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
    return offset as number;
  }
}
