/**
 * bench/dedup: what content-defined chunking saves, and what it costs.
 *
 * - Versions of a large random file (256 MiB), each with 40 scattered inserts
 *   and deletes of 1–8 KiB, written one after another into one FileStore
 *   (tmpfs) with `chunking: "content"` and, into another, with fixed 64 MiB
 *   blocks: bytes stored over bytes written; write speed of content chunking
 *   against fixed on the same bytes in the same run; read speed of the last
 *   version, content against fixed.
 * - A real-world case: three successive releases of the `typescript` npm
 *   package, as the uncompressed tarballs npm serves (fetched once with
 *   `npm pack`, cached; skipped when the registry cannot be reached).
 * - restic (1 MiB Rabin chunks) and borg (2 MiB buzhash chunks) on the same
 *   files, when installed, with compression off: their repositories' size.
 * - The chunker's scan speed beside a wasm build of the Rust `fastcdc` crate
 *   (`@dstanesc/wasm-chunking-fastcdc-node`), on the same bytes.
 *
 * `npm run bench -- dedup [--mib 256] [--edits 40] [--versions 3]`
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { compute_chunks } from "@dstanesc/wasm-chunking-fastcdc-node";
import { BlockClient, FileStore, type Manifest } from "../mod.ts";
import { concat } from "../lib/platform/_concat.ts";
import { FastCdc } from "../lib/write/_fastcdc.ts";
import { record } from "./_record.ts";
import { arg, mib, runtime } from "./_utils.ts";

const MiB = 1024 * 1024;
const sizeMiB = Number(arg("mib", "256"));
const edits = Number(arg("edits", "40"));
const versionCount = Number(arg("versions", "3"));
const storeDir = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
const root = process.env.STOWAGE_ROOT ?? fileURLToPath(new URL("..", import.meta.url));

/** xorshift32: the same edits in every run and runtime. */
function prng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
}

function randomFill(bytes: Uint8Array): Uint8Array {
  for (let i = 0; i < bytes.length; i += 65536) {
    crypto.getRandomValues(bytes.subarray(i, Math.min(bytes.length, i + 65536)));
  }
  return bytes;
}

/** `count` scattered inserts and deletes of 1–8 KiB. */
function edited(previous: Uint8Array, seed: number, count: number): Uint8Array {
  const next = prng(seed);
  const positions = Array.from({ length: count }, () => next() % previous.length).sort((a, b) =>
    a - b
  );
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const [i, position] of positions.entries()) {
    if (position < at) continue;
    parts.push(previous.subarray(at, position));
    const size = 1024 + (next() % (7 * 1024));
    if (i % 2 === 0) {
      parts.push(randomFill(new Uint8Array(size)));
      at = position;
    } else at = Math.min(previous.length, position + size);
  }
  parts.push(previous.subarray(at));
  return concat(parts);
}

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + MiB));
      at += MiB;
    },
  }, { highWaterMark: 0 });
}

interface Written {
  raw: number;
  stored: number;
  seconds: number;
  manifests: Manifest[];
  dir: string;
}

async function writeAll(chunking: "fixed" | "content", versions: Uint8Array[]): Promise<Written> {
  const dir = await mkdtemp(join(storeDir, `stowage-bench-dedup-${chunking}-`));
  const client = new BlockClient({ services: [new FileStore(dir)], cache: false });
  const written: Written = { raw: 0, stored: 0, seconds: 0, manifests: [], dir };
  for (const bytes of versions) {
    const started = performance.now();
    const sink = client.writable({ chunking });
    await streamOf(bytes).pipeTo(sink);
    const result = await sink.result;
    written.seconds += (performance.now() - started) / 1000;
    written.raw += bytes.length;
    written.stored += result.bytesStored;
    written.manifests.push(result.manifest);
  }
  return written;
}

async function readRate(dir: string, manifest: Manifest, expected: Uint8Array): Promise<number> {
  // A fresh client: nothing cached from the write.
  const client = new BlockClient({ services: [new FileStore(dir)] });
  const started = performance.now();
  let n = 0;
  let same = true;
  for await (const chunk of client.readable(manifest)) {
    same &&= Buffer.from(chunk).equals(Buffer.from(expected.subarray(n, n + chunk.length)));
    n += chunk.length;
  }
  const seconds = (performance.now() - started) / 1000;
  if (!same || n !== expected.length) throw new Error("a version did not read back byte for byte");
  return n / seconds;
}

/** Repository size in bytes (du -sb). */
function du(dir: string): number {
  const out = spawnSync("du", ["-sb", dir], { encoding: "utf8" });
  return Number(out.stdout.split(/\s/)[0]);
}

/** restic and borg on the same files, when installed: stored bytes. */
function others(versions: Uint8Array[], work: string): Record<string, number> {
  const out: Record<string, number> = {};
  const file = join(work, "data.bin");
  const has = (tool: string) =>
    spawnSync(tool, [tool === "restic" ? "version" : "--version"]).status === 0;
  if (has("restic")) {
    const repo = join(work, "restic");
    const env = { ...process.env, RESTIC_PASSWORD: "bench", RESTIC_REPOSITORY: repo };
    spawnSync("restic", ["init", "--quiet"], { env });
    const before = du(repo);
    for (const bytes of versions) {
      writeFileSync(file, bytes);
      spawnSync("restic", ["backup", "--quiet", "--compression", "off", file], { env });
    }
    out.restic = du(repo) - before;
  }
  if (has("borg")) {
    const repo = join(work, "borg");
    const env = {
      ...process.env,
      BORG_PASSPHRASE: "",
      BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: "yes",
    };
    spawnSync("borg", ["init", "--encryption=none", repo], { env });
    const before = du(repo);
    versions.forEach((bytes, i) => {
      writeFileSync(file, bytes);
      spawnSync("borg", ["create", "--compression", "none", `${repo}::v${i}`, file], { env });
    });
    out.borg = du(repo) - before;
  }
  return out;
}

/** Three successive `typescript` releases as uncompressed tarballs, fetched once. */
function typescriptReleases(): Uint8Array[] | undefined {
  const cache = join(root, "node_modules", ".cache", "stowage-bench", "typescript");
  mkdirSync(cache, { recursive: true });
  const wanted = ["5.7.3", "5.8.3", "5.9.2"];
  for (const version of wanted) {
    if (existsSync(join(cache, `typescript-${version}.tgz`))) continue;
    const packed = spawnSync(
      "npm",
      ["pack", `typescript@${version}`, "--pack-destination", cache],
      {
        encoding: "utf8",
        timeout: 120_000,
      },
    );
    if (packed.status !== 0) return undefined;
  }
  const files = readdirSync(cache).filter((f) => f.endsWith(".tgz")).sort();
  if (files.length < wanted.length) return undefined;
  return wanted.map((v) =>
    new Uint8Array(gunzipSync(readFileSync(join(cache, `typescript-${v}.tgz`))))
  );
}

interface CaseResult {
  name: string;
  raw: number;
  content: Written;
  fixed: Written;
  others: Record<string, number>;
  readRatio: number;
  reads: { content: number; fixed: number };
}

async function runCase(name: string, versions: Uint8Array[]): Promise<CaseResult> {
  // Fixed first, then content: the same bytes, the same machine, one after the other.
  const fixed = await writeAll("fixed", versions);
  const content = await writeAll("content", versions);
  const last = versions.length - 1;
  // Reads alternate, three of each, and the best of each counts: one pass
  // takes a second, and one scheduling hiccup would decide a single pair.
  let fixedRead = 0;
  let contentRead = 0;
  for (let round = 0; round < 3; round++) {
    fixedRead = Math.max(
      fixedRead,
      await readRate(fixed.dir, fixed.manifests[last]!, versions[last]!),
    );
    contentRead = Math.max(
      contentRead,
      await readRate(content.dir, content.manifests[last]!, versions[last]!),
    );
  }
  const work = await mkdtemp(join(storeDir, "stowage-bench-dedup-others-"));
  let other: Record<string, number> = {};
  try {
    other = others(versions, work);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  await rm(fixed.dir, { recursive: true, force: true });
  await rm(content.dir, { recursive: true, force: true });
  const result = {
    name,
    raw: content.raw,
    content,
    fixed,
    others: other,
    readRatio: contentRead / fixedRead,
    reads: { content: contentRead, fixed: fixedRead },
  };
  const ratio = (stored: number) => (stored / result.raw).toFixed(2);
  console.log(`${name}: ${versions.length} versions, ${mib(result.raw)} written`);
  console.log(
    `  stored/raw: content ${ratio(content.stored)}, fixed ${ratio(fixed.stored)}` +
      Object.entries(other).map(([tool, bytes]) => `, ${tool} ${ratio(bytes)}`).join(""),
  );
  console.log(
    `  write: content ${mib(content.raw / content.seconds)}/s, fixed ${
      mib(fixed.raw / fixed.seconds)
    }/s (${(fixed.seconds / content.seconds).toFixed(2)}x)`,
  );
  console.log(
    `  read of the last version: content ${mib(contentRead)}/s, fixed ${mib(fixedRead)}/s (${
      result.readRatio.toFixed(2)
    }x)`,
  );
  return result;
}

/** Scan speed, bytes/s: ours (streaming, 1 MiB pieces) and the wasm crate's (one call a 16 MiB piece). */
function chunkerSpeeds(bytes: Uint8Array): { ours: number; wasm: number } {
  const best = (run: () => void) => {
    let fastest = Infinity;
    for (let round = 0; round < 3; round++) {
      const started = performance.now();
      run();
      fastest = Math.min(fastest, (performance.now() - started) / 1000);
    }
    return bytes.length / fastest;
  };
  const ours = best(() => {
    const cdc = new FastCdc();
    for (let at = 0; at < bytes.length; at += MiB) {
      const piece = bytes.subarray(at, at + MiB);
      for (let i = 0, cut; (cut = cdc.next(piece, i)) >= 0; i = cut);
    }
  });
  const wasm = best(() => {
    for (let at = 0; at < bytes.length; at += 16 * MiB) {
      compute_chunks(bytes.subarray(at, at + 16 * MiB), 16384, 65536, 262144);
    }
  });
  return { ours, wasm };
}

const v1 = randomFill(new Uint8Array(sizeMiB * MiB));
const speeds = chunkerSpeeds(v1);
console.log(
  `chunker scan: ours ${mib(speeds.ours)}/s, wasm fastcdc crate ${mib(speeds.wasm)}/s (${
    (speeds.ours / speeds.wasm).toFixed(2)
  }x)`,
);
const versions = [v1];
for (let i = 1; i < versionCount; i++) versions.push(edited(versions[i - 1]!, i, edits));
const cases = [await runCase(`${sizeMiB} MiB file, ${edits} edits a version`, versions)];
const releases = typescriptReleases();
if (releases === undefined) {
  console.log("typescript releases: npm pack failed (no registry?); skipped");
} else cases.push(await runCase("typescript 5.7.3, 5.8.3, 5.9.2 (tar)", releases));

const summary = [`chunker scan ${(speeds.ours / speeds.wasm).toFixed(2)}x the wasm fastcdc crate`];
summary.push(
  ...cases.map((c) =>
    `${c.name}: stored/raw ${(c.content.stored / c.raw).toFixed(2)} content, ${
      (c.fixed.stored / c.raw).toFixed(2)
    } fixed${
      Object.entries(c.others).map(([t, b]) => `, ${(b / c.raw).toFixed(2)} ${t}`).join("")
    }; write ${(c.fixed.seconds / c.content.seconds).toFixed(2)}x fixed; read ${
      c.readRatio.toFixed(2)
    }x fixed`
  ),
);
console.log(`RESULT dedup (${runtime}):\n  ${summary.join("\n  ")}`);
console.log(
  `  targets: first case stored/raw <= 0.45, write >= 0.5x fixed (aim 0.8), read >= 0.8x fixed`,
);
record("dedup", summary, [
  {
    title: "Chunker scan speed (FastCDC, 16 / 64 / 256 KiB)",
    unit: "MiB/s",
    better: "higher",
    bars: [
      {
        label: "Stowage FastCdc (TypeScript, streaming)",
        value: speeds.ours / MiB,
        kind: "stowage",
      },
      { label: "Rust fastcdc crate (wasm, one-shot)", value: speeds.wasm / MiB, kind: "baseline" },
    ],
  },
  ...cases.flatMap((c) => [
    {
      title: `Stored over written: ${c.name}`,
      unit: "ratio",
      better: "lower" as const,
      bars: [
        {
          label: "Stowage, chunking: content",
          value: c.content.stored / c.raw,
          kind: "stowage" as const,
        },
        {
          label: "Stowage, fixed 64 MiB blocks",
          value: c.fixed.stored / c.raw,
          kind: "baseline" as const,
        },
        ...Object.entries(c.others).map(([tool, bytes]) => ({
          label: tool === "restic" ? "restic (1 MiB Rabin chunks)" : "borg (2 MiB buzhash chunks)",
          value: bytes / c.raw,
          kind: "baseline" as const,
        })),
      ],
    },
    {
      title: `Write speed: ${c.name}`,
      unit: "MiB/s",
      better: "higher" as const,
      bars: [
        {
          label: "Stowage, chunking: content",
          value: c.raw / c.content.seconds / MiB,
          kind: "stowage" as const,
        },
        {
          label: "Stowage, fixed 64 MiB blocks",
          value: c.raw / c.fixed.seconds / MiB,
          kind: "baseline" as const,
        },
      ],
    },
    {
      title: `Read speed of the last version: ${c.name}`,
      unit: "MiB/s",
      better: "higher" as const,
      bars: [
        {
          label: "Stowage, chunking: content",
          value: c.reads.content / MiB,
          kind: "stowage" as const,
        },
        {
          label: "Stowage, fixed 64 MiB blocks",
          value: c.reads.fixed / MiB,
          kind: "baseline" as const,
        },
      ],
    },
  ]),
]);
