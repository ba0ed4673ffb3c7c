/**
 * bench/write: pipe random bytes into (a) a FileStore and (b) three local block
 * servers with copies = 2, through BlockClient.writable(). Prints throughput as
 * a ratio of the same run's single-core createHash('md5') throughput over the
 * same bytes, and the client's peak RSS for 1 GiB and for 4 GiB.
 *
 * `npm run bench -- write [--gib 1] [--big-gib 4] [--block-size 67108864]`
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { BlockClient, FileStore } from "../mod.ts";
import { arg, gc, mib, rssSampler, runtime, stampedSource } from "./_utils.ts";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const gib = Number(arg("gib", "1"));
const bigGib = Number(arg("big-gib", "4"));
const blockSize = Number(arg("block-size", String(64 * MiB)));
// tmpfs by default, so the figure is Stowage's cost and not the disk's fsync
// speed (this machine's disk: 357 MB/s with fdatasync); --dir to choose.
const storeDir = arg("dir", existsSync("/dev/shm") ? "/dev/shm" : tmpdir());

const source = stampedSource;

async function md5Baseline(total: number): Promise<number> {
  const hash = createHash("md5");
  const started = performance.now();
  for await (const chunk of source(total)) hash.update(chunk);
  hash.digest();
  return total / ((performance.now() - started) / 1000);
}

async function timed(
  run: () => Promise<void>,
): Promise<{ rate: number; rss: number; seconds: number }> {
  gc();
  const sampler = rssSampler();
  const started = performance.now();
  await run();
  const seconds = (performance.now() - started) / 1000;
  return { rate: 0, rss: sampler.stop(), seconds };
}

async function intoFileStore(total: number): Promise<{ rate: number; rss: number }> {
  const dir = await mkdtemp(join(storeDir, "stowage-bench-write-"));
  try {
    const client = new BlockClient({ services: [new FileStore(dir)], copies: 1 });
    const result = await timed(async () => {
      // The writable's default blocksInFlight (4): hashing the next blocks overlaps each write.
      const sink = client.writable({ blockSize });
      await source(total).pipeTo(sink);
      await sink.result;
    });
    return { rate: total / result.seconds, rss: result.rss };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function startServer(dir: string): Promise<{ url: string; stop: () => void }> {
  const root = process.env.STOWAGE_ROOT ?? fileURLToPath(new URL("..", import.meta.url));
  const command = runtime === "deno"
    ? [process.execPath, "run", "-A", join(root, "cli", "main.ts")]
    : [process.execPath, join(root, "bin", "stowage.js")];
  const child = spawn(command[0]!, [...command.slice(1), "serve", "--port", "0", "--dir", dir], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  return await new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (c: Uint8Array) => {
      out += new TextDecoder().decode(c);
      const m = /on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ url: m[1]!, stop: () => child.kill("SIGKILL") });
    });
    child.once("exit", (code) => reject(new Error(`server exited ${code}`)));
  });
}

async function intoServers(total: number): Promise<{ rate: number; rss: number }> {
  const dirs = await Promise.all(
    [0, 1, 2].map(() => mkdtemp(join(storeDir, "stowage-bench-srv-"))),
  );
  const servers = await Promise.all(dirs.map(startServer));
  try {
    const client = new BlockClient({ services: servers.map((s) => s.url), copies: 2 });
    const result = await timed(async () => {
      const sink = client.writable({ blockSize, blocksInFlight: 4 });
      await source(total).pipeTo(sink);
      await sink.result;
    });
    return { rate: total / result.seconds, rss: result.rss };
  } finally {
    for (const s of servers) s.stop();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}

const total = gib * GiB;
const md5 = await md5Baseline(total);
console.log(`md5 baseline (single core): ${mib(md5)}/s over ${gib} GiB; stores in ${storeDir}`);
const a = await intoFileStore(total);
console.log(
  `(a) FileStore:           ${mib(a.rate)}/s  ratio ${(a.rate / md5).toFixed(2)}  peak RSS ${
    mib(a.rss)
  }`,
);
// The 4 GiB run comes right after the 1 GiB one: RSS never shrinks, so the
// servers run's buffers would otherwise count against it.
const big = await intoFileStore(bigGib * GiB);
console.log(`(a) FileStore ${bigGib} GiB:     ${mib(big.rate)}/s  peak RSS ${mib(big.rss)}`);
const b = await intoServers(total);
console.log(
  `(b) 3 servers, copies 2: ${mib(b.rate)}/s  ratio ${(b.rate / md5).toFixed(2)}  peak RSS ${
    mib(b.rss)
  }`,
);
console.log(
  `RESULT write (${runtime}): (a) ${(a.rate / md5).toFixed(2)}x md5 (target 0.85), (b) ${
    (b.rate / md5).toFixed(2)
  }x md5 (target 0.5), peak RSS ${mib(a.rss)} at ${gib} GiB vs ${mib(big.rss)} at ${bigGib} GiB (${
    ((big.rss / a.rss - 1) * 100).toFixed(0)
  }%, target within 10%)`,
);
