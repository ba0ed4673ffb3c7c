/**
 * bench/write: pipe random bytes into (a) a FileStore and (b) three local block
 * servers with copies = 2, through BlockClient.writable(). Beside them, in the
 * same run, the machine's limits: single-core MD5 of the same bytes (the
 * baseline every ratio is against), N-core MD5 (N threads hashing disjoint
 * blocks, no I/O), and the CPU the store's own file writes cost, from which the
 * bound for (a) on N cores follows. (a) is then read back through
 * `client.readable()`, every block verified. Also the client's peak RSS for 1 GiB and
 * for 4 GiB, and each server's CPU per GiB received (Linux: /proc).
 *
 * `npm run bench -- write [--gib 1] [--big-gib 4] [--block-size 67108864] [--dir D]`
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { type AddressInfo, connect, createServer } from "node:net";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { BlockClient, FileStore, type Manifest } from "../mod.ts";
import { record } from "./_record.ts";
import { arg, gc, mib, rssSampler, runtime, stampedSource } from "./_utils.ts";

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const gib = Number(arg("gib", "1"));
const bigGib = Number(arg("big-gib", "4"));
const blockSize = Number(arg("block-size", String(64 * MiB)));
const cores = availableParallelism();
// tmpfs by default, so the figure is Stowage's cost and not the disk's fsync
// speed (this machine's disk: 357 MB/s with fdatasync); --dir to choose.
const storeDir = arg("dir", existsSync("/dev/shm") ? "/dev/shm" : tmpdir());

const source = stampedSource;

/** CPU seconds this process (all its threads) used while `run` ran. */
async function cpuOf(run: () => Promise<void>): Promise<{ cpu: number; seconds: number }> {
  const before = process.cpuUsage();
  const started = performance.now();
  await run();
  const used = process.cpuUsage(before);
  return { cpu: (used.user + used.system) / 1e6, seconds: (performance.now() - started) / 1000 };
}

/** Single-core MD5 of the stamped source's bytes: the baseline every ratio is against. */
async function md5Baseline(total: number): Promise<number> {
  const hash = createHash("md5");
  const started = performance.now();
  for await (const chunk of source(total)) hash.update(chunk);
  hash.digest();
  return total / ((performance.now() - started) / 1000);
}

/** CPU seconds per GiB of producing the source's bytes alone. */
async function sourceCost(total: number): Promise<number> {
  const { cpu } = await cpuOf(async () => {
    for await (const _ of source(total)) { /* drain */ }
  });
  return cpu / (total / GiB);
}

/** N threads, each hashing its own 64 MiB block `rounds` times, no I/O: bytes/s in all. */
async function md5Cores(threads: number, rounds: number): Promise<number> {
  const code = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const block = new Uint8Array(${64 * MiB});
for (let i = 0; i < block.length; i += 4096) block[i] = i & 255;
parentPort.on("message", (rounds) => {
  for (let i = 0; i < rounds; i++) createHash("md5").update(block).digest();
  parentPort.postMessage("done");
});
parentPort.postMessage("ready");`;
  const workers = Array.from({ length: threads }, () => new Worker(code, { eval: true }));
  try {
    await Promise.all(workers.map((w) => new Promise((r) => w.once("message", r))));
    const started = performance.now();
    await Promise.all(workers.map((w) =>
      new Promise((r) => {
        w.once("message", r);
        w.postMessage(rounds);
      })
    ));
    return (threads * rounds * 64 * MiB) / ((performance.now() - started) / 1000);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/**
 * CPU seconds per GiB the FileStore's own writes cost (temp file, write,
 * datasync, rename): blocks put with their locators given and trusted, so
 * nothing is hashed.
 */
async function storeWriteCost(total: number): Promise<number> {
  const dir = await mkdtemp(join(storeDir, "stowage-bench-io-"));
  try {
    const store = new FileStore(dir);
    await store.open();
    const blocks = Math.ceil(total / blockSize);
    const bytes = new Uint8Array(blockSize);
    crypto.getRandomValues(bytes.subarray(0, 65536));
    const { cpu } = await cpuOf(async () => {
      for (let i = 0; i < blocks; i += 4) {
        await Promise.all(
          Array.from({ length: Math.min(4, blocks - i) }, (_, k) => {
            const digest = createHash("md5").update(String(i + k)).digest("hex");
            return store.put(bytes, { expect: `${digest}+${blockSize}`, verified: true });
          }),
        );
      }
    });
    return cpu / ((blocks * blockSize) / GiB);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * CPU seconds per GiB of moving bytes over loopback TCP, sender and receiver
 * together (one process), in block-sized writes: what each copy to a block
 * server costs beside its hashing and its write.
 */
async function tcpCost(total: number): Promise<number> {
  const block = new Uint8Array(blockSize);
  crypto.getRandomValues(block.subarray(0, 65536));
  let received = 0;
  const server = createServer((socket) => {
    socket.on("data", (chunk: Uint8Array) => {
      received += chunk.length;
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const { port } = server.address() as AddressInfo;
    const socket = connect(port, "127.0.0.1");
    await new Promise((r) => socket.once("connect", r));
    const { cpu } = await cpuOf(async () => {
      for (let sent = 0; sent < total; sent += blockSize) {
        if (!socket.write(block)) await new Promise((r) => socket.once("drain", r));
      }
      while (received < total) await new Promise((r) => setTimeout(r, 5));
    });
    socket.destroy();
    return cpu / (total / GiB);
  } finally {
    await new Promise((r) => server.close(r));
  }
}

async function timed(run: () => Promise<void>): Promise<{ rss: number; seconds: number }> {
  gc();
  const sampler = rssSampler();
  const started = performance.now();
  await run();
  const seconds = (performance.now() - started) / 1000;
  return { rss: sampler.stop(), seconds };
}

async function intoFileStore(
  total: number,
  readBack = false,
): Promise<{ rate: number; rss: number; readRate: number }> {
  const dir = await mkdtemp(join(storeDir, "stowage-bench-write-"));
  try {
    const client = new BlockClient({ services: [new FileStore(dir)], copies: 1 });
    let written: Manifest | undefined;
    const result = await timed(async () => {
      // The writable's default blocksInFlight (4): hashing the next blocks overlaps each write.
      const sink = client.writable({ blockSize });
      await source(total).pipeTo(sink);
      written = (await sink.result).manifest;
    });
    let readRate = 0;
    if (readBack) {
      // Every block is verified as it is read: on the hashing threads, so a
      // read, too, can pass one core's MD5.
      const started = performance.now();
      let bytes = 0;
      for await (const chunk of client.readable(written!)) bytes += chunk.length;
      readRate = bytes / ((performance.now() - started) / 1000);
    }
    return { rate: total / result.seconds, rss: result.rss, readRate };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface ServerChild {
  url: string;
  pid: number;
  stop: () => void;
}

async function startServer(dir: string): Promise<ServerChild> {
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
      if (m) resolve({ url: m[1]!, pid: child.pid!, stop: () => child.kill("SIGKILL") });
    });
    child.once("exit", (code) => reject(new Error(`server exited ${code}`)));
  });
}

/** CPU seconds a process has used, from /proc (Linux); NaN elsewhere. */
function processCpu(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

async function intoServers(
  total: number,
): Promise<{ rate: number; rss: number; serverCpuPerGiB: number }> {
  const dirs = await Promise.all(
    [0, 1, 2].map(() => mkdtemp(join(storeDir, "stowage-bench-srv-"))),
  );
  const servers = await Promise.all(dirs.map(startServer));
  try {
    const client = new BlockClient({ services: servers.map((s) => s.url), copies: 2 });
    const before = servers.map((s) => processCpu(s.pid));
    const result = await timed(async () => {
      const sink = client.writable({ blockSize, blocksInFlight: 4 });
      await source(total).pipeTo(sink);
      await sink.result;
    });
    const serverCpu = servers.reduce((sum, s, i) => sum + processCpu(s.pid) - before[i]!, 0);
    // Two copies: the servers together receive twice the bytes.
    return {
      rate: total / result.seconds,
      rss: result.rss,
      serverCpuPerGiB: serverCpu / ((2 * total) / GiB),
    };
  } finally {
    for (const s of servers) s.stop();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}

const total = gib * GiB;
const md5 = await md5Baseline(total);
const md5N = await md5Cores(cores, Math.max(1, Math.round((gib * 16) / cores)));
const sourceCpu = await sourceCost(total);
// Wall time of one core hashing the source, less producing it.
const md5Cpu = GiB / md5 - sourceCpu;
const writeCpu = await storeWriteCost(total);
// The bound for (a): every core busy with nothing but producing the bytes,
// hashing them once and the store's writes. For (b), the three MD5 passes
// (client and two servers) on N cores, as the issue counts it; and beside it
// the bound that also counts what each of the two copies costs besides its
// MD5: the loopback TCP send and receive, and the receiving store's write.
const limitA = (cores * GiB) / (sourceCpu + md5Cpu + writeCpu);
const limitB = md5N / 3;
const ratio = (rate: number) => (rate / md5).toFixed(2);
console.log(`stores in ${storeDir}; ${cores} cores`);
console.log(`md5, 1 core (source + hash):  ${mib(md5)}/s  (ratio 1.00)`);
console.log(`md5, ${cores} threads, no I/O:     ${mib(md5N)}/s  ratio ${ratio(md5N)}`);
console.log(
  `CPU per GiB: source ${sourceCpu.toFixed(2)} s, md5 ${md5Cpu.toFixed(2)} s, FileStore writes ${
    writeCpu.toFixed(2)
  } s`,
);
console.log(`limit (a), ${cores} cores:         ${mib(limitA)}/s  ratio ${ratio(limitA)}`);
const a = await intoFileStore(total, true);
console.log(
  `(a) FileStore:                ${mib(a.rate)}/s  ratio ${ratio(a.rate)}  (${
    (a.rate / limitA * 100).toFixed(0)
  }% of the limit)  peak RSS ${mib(a.rss)}`,
);
console.log(`(a) read back, verified:      ${mib(a.readRate)}/s  ratio ${ratio(a.readRate)}`);
// The 4 GiB run comes right after the 1 GiB one: RSS never shrinks, so the
// servers run's buffers would otherwise count against it.
const big = await intoFileStore(bigGib * GiB);
console.log(`(a) FileStore ${bigGib} GiB:          ${mib(big.rate)}/s  peak RSS ${mib(big.rss)}`);
const b = await intoServers(total);
// Measured last: its receive buffers would count against the RSS figures above.
const tcpCpu = await tcpCost(total);
const limitBFull = (cores * GiB) / (sourceCpu + 3 * md5Cpu + 2 * (tcpCpu + writeCpu));
console.log(`CPU per GiB: loopback TCP (send and receive) ${tcpCpu.toFixed(2)} s`);
console.log(`limit (b), 3 md5 passes:      ${mib(limitB)}/s  ratio ${ratio(limitB)}`);
console.log(
  `limit (b), with TCP, writes:  ${mib(limitBFull)}/s  ratio ${ratio(limitBFull)}`,
);
console.log(
  `(b) 3 servers, copies 2:      ${mib(b.rate)}/s  ratio ${ratio(b.rate)}  peak RSS ${
    mib(b.rss)
  }  server CPU ${b.serverCpuPerGiB.toFixed(2)} s per GiB received`,
);
const summary = [
  `(a) ${
    ratio(a.rate)
  }x single-core md5 into the FileStore (target 1.5; limit with the store's writes ${
    ratio(limitA)
  }; N-core md5 ${ratio(md5N)})`,
  `(a) read back from the FileStore, every block verified: ${ratio(a.readRate)}x single-core md5`,
  `(b) ${ratio(b.rate)}x md5 to 3 servers, copies 2 (target 0.4; 3-md5 limit ${
    ratio(limitB)
  }; with the copies' TCP and writes ${ratio(limitBFull)})`,
  `peak RSS ${mib(a.rss)} at ${gib} GiB vs ${mib(big.rss)} at ${bigGib} GiB (${
    ((big.rss / a.rss - 1) * 100).toFixed(0)
  }%, target within 10%)`,
  `server CPU ${b.serverCpuPerGiB.toFixed(2)} s per GiB received`,
];
console.log(`RESULT write (${runtime}):\n  ${summary.join("\n  ")}`);
record("write", summary, [
  {
    title: `Writing ${gib} GiB into the FileStore (tmpfs)`,
    unit: "MiB/s",
    better: "higher",
    bars: [
      { label: "Stowage, client.writable()", value: a.rate / MiB, kind: "stowage" },
      { label: "MD5 on one core", value: md5 / MiB, kind: "baseline" },
      { label: `MD5 on ${cores} threads, no I/O`, value: md5N / MiB, kind: "limit" },
      { label: `Limit with the store's writes`, value: limitA / MiB, kind: "limit" },
    ],
  },
  {
    title: `Reading ${gib} GiB back from the FileStore, every block verified`,
    unit: "MiB/s",
    better: "higher",
    bars: [
      { label: "Stowage, client.readable()", value: a.readRate / MiB, kind: "stowage" },
      { label: "MD5 on one core", value: md5 / MiB, kind: "baseline" },
      { label: `MD5 on ${cores} threads, no I/O`, value: md5N / MiB, kind: "limit" },
    ],
  },
  {
    title: `Writing ${gib} GiB to 3 local block servers, 2 copies`,
    unit: "MiB/s",
    better: "higher",
    bars: [
      { label: "Stowage, client.writable()", value: b.rate / MiB, kind: "stowage" },
      { label: "MD5 on one core", value: md5 / MiB, kind: "baseline" },
      { label: "Limit: 3 MD5 passes on all cores", value: limitB / MiB, kind: "limit" },
      {
        label: "Limit: 3 MD5 passes, 2 TCP copies, 2 writes",
        value: limitBFull / MiB,
        kind: "limit",
      },
    ],
  },
  {
    title: "Client peak RSS while writing",
    unit: "MiB",
    better: "lower",
    bars: [
      { label: `${gib} GiB`, value: a.rss / MiB, kind: "stowage" },
      { label: `${bigGib} GiB`, value: big.rss / MiB, kind: "stowage" },
    ],
  },
]);
