/**
 * bench/server: 64 concurrent clients each doing a 1 MiB PUT then a GET of it,
 * against (a) Stowage's block server (createBlockHandler over a FileStore,
 * verified on PUT and GET) and (b) a bare node:http handler with the same
 * durability (each body to a temp file, fdatasync, rename) that reads the bytes
 * back without verifying. Each server runs in its own child process; the load
 * alternates between them in rounds (bare then stowage, then stowage then
 * bare, …), so that the machine's drift over a run (this VM's speed moves by
 * ±15% from minute to minute) falls on both alike. Prints, per server,
 * requests/s, p50 and p99 latency, errors and server CPU per pair over all
 * rounds; each round's ratio; and the overall ratio (total requests per
 * second, stowage over bare).
 *
 * `npm run bench -- server [--seconds 40] [--rounds 4] [--clients 64] [--size 1048576]`
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, open, rename, rm, stat } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { pipeline } from "node:stream/promises";
import { createBlockHandler, serve } from "../lib/server/mod.ts";
import { FileStore } from "../mod.ts";
import { record } from "./_record.ts";
import { arg, mib, percentile, runtime } from "./_utils.ts";

const role = arg("role", "driver");
/** Block contents differ across every request of the run (both servers). */
let counter = 0;

if (role === "stowage" || role === "bare") {
  const dir = arg("dir", "");
  let url: string;
  if (role === "stowage") {
    const handler = createBlockHandler({ store: new FileStore(dir) });
    // /cpu: the process's CPU time so far, for the driver's CPU per pair.
    const server = await serve(
      (request) =>
        new URL(request.url).pathname === "/cpu"
          ? Response.json(process.cpuUsage())
          : handler(request),
      { port: 0 },
    );
    url = server.url;
  } else {
    const server = createServer((req, res) => {
      const path = (req.url ?? "/").slice(1);
      if (path === "cpu") return res.end(JSON.stringify(process.cpuUsage()));
      const digest = path.split("+")[0]!;
      if (!/^[0-9a-f]{32}$/.test(digest)) {
        res.statusCode = 400;
        res.end();
        return;
      }
      const file = join(dir, digest);
      if (req.method === "PUT") {
        const temp = `${file}.tmp-${Math.random().toString(36).slice(2)}`;
        (async () => {
          const handle = await open(temp, "w");
          try {
            for await (const chunk of req) await handle.write(chunk as Uint8Array);
            await handle.datasync();
          } finally {
            await handle.close();
          }
          await rename(temp, file);
          return (await stat(file)).size;
        })().then(
          (size) => res.end(`${digest}+${size}\n`),
          () => {
            res.statusCode = 500;
            res.end();
          },
        );
      } else {
        pipeline(createReadStream(file), res).catch(() => res.destroy());
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  }
  console.log(`URL ${url}`);
} else {
  const seconds = Number(arg("seconds", "40"));
  const rounds = Number(arg("rounds", "4"));
  const clients = Number(arg("clients", "64"));
  const size = Number(arg("size", String(1 << 20)));
  const kinds = ["bare", "stowage"] as const;
  const servers = { bare: await startServer("bare"), stowage: await startServer("stowage") };
  const totals: Record<string, Result> = {};
  const roundRatios: number[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? kinds : [...kinds].reverse();
      const rps: Record<string, number> = {};
      for (const kind of order) {
        const r = await load(kind, servers[kind].url, seconds / rounds, clients, size);
        rps[kind] = r.requests / r.elapsed;
        totals[kind] = add(totals[kind], r);
      }
      roundRatios.push(rps.stowage! / rps.bare!);
      console.log(`round ${round + 1}: stowage/bare ${roundRatios.at(-1)!.toFixed(2)}`);
    }
  } finally {
    for (const kind of kinds) await servers[kind].stop();
  }
  const results: Record<string, Summary> = {};
  for (const kind of kinds) {
    const r = results[kind] = summarize(totals[kind]!);
    console.log(
      `${kind.padEnd(8)} ${r.rps.toFixed(0).padStart(6)} req/s  p50 ${r.p50.toFixed(1)} ms  p99 ${
        r.p99.toFixed(1)
      } ms  errors ${r.errors}  (${r.requests} requests, ${r.mbps.toFixed(0)} MB/s, server CPU ${
        r.cpuPerPair.toFixed(2)
      } ms a pair)`,
    );
  }
  const ratio = results.stowage!.rps / results.bare!.rps;
  const summary = [
    `stowage/bare throughput ratio ${ratio.toFixed(2)}, overhead ${
      ((1 / ratio - 1) * 100).toFixed(0)
    }% (target >= 0.8; ${rounds} alternating rounds: ${
      roundRatios.map((x) => x.toFixed(2)).join(", ")
    })`,
    `p99 ${results.stowage!.p99.toFixed(1)} vs ${results.bare!.p99.toFixed(1)} ms`,
    `server CPU a pair ${results.stowage!.cpuPerPair.toFixed(2)} vs ${
      results.bare!.cpuPerPair.toFixed(2)
    } ms`,
    `errors ${results.stowage!.errors + results.bare!.errors}`,
  ];
  console.log(`RESULT server (${runtime}): ${summary.join("; ")}`);
  const label = `${clients} clients, ${mib(size)} PUT+GET`;
  record("server", summary, [
    {
      title: `Block server throughput: ${label}`,
      unit: "requests/s",
      better: "higher",
      bars: [
        { label: "stowage serve", value: results.stowage!.rps, kind: "stowage" },
        {
          label: "Bare node:http (temp, fdatasync, rename)",
          value: results.bare!.rps,
          kind: "baseline",
        },
      ],
    },
    {
      title: `Block server CPU per PUT+GET pair: ${label}`,
      unit: "ms",
      better: "lower",
      bars: [
        { label: "stowage serve", value: results.stowage!.cpuPerPair, kind: "stowage" },
        { label: "Bare node:http", value: results.bare!.cpuPerPair, kind: "baseline" },
      ],
    },
  ]);
  if (results.stowage!.errors + results.bare!.errors > 0) process.exitCode = 1;
}

/** One load phase's raw figures, or several added up. */
interface Result {
  latencies: number[];
  errors: number;
  bytes: number;
  elapsed: number;
  /** Server CPU (user + system), ms. */
  cpuMs: number;
  requests: number;
}

interface Summary {
  requests: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
  mbps: number;
  /** Server CPU (user + system) per PUT+GET pair, ms. */
  cpuPerPair: number;
}

function add(a: Result | undefined, b: Result): Result {
  if (a === undefined) return b;
  return {
    latencies: a.latencies.concat(b.latencies),
    errors: a.errors + b.errors,
    bytes: a.bytes + b.bytes,
    elapsed: a.elapsed + b.elapsed,
    cpuMs: a.cpuMs + b.cpuMs,
    requests: a.requests + b.requests,
  };
}

function summarize(r: Result): Summary {
  return {
    requests: r.requests,
    errors: r.errors,
    rps: r.requests / r.elapsed,
    p50: percentile(r.latencies, 50),
    p99: percentile(r.latencies, 99),
    mbps: r.bytes / r.elapsed / 1e6,
    cpuPerPair: r.cpuMs / (r.requests / 2),
  };
}

/** A server of `kind` in a child process of this runtime, with its own folder. */
async function startServer(
  kind: "bare" | "stowage",
): Promise<{ url: string; stop: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `stowage-bench-${kind}-`));
  const self = runtime === "deno"
    ? ["run", "-A", new URL(import.meta.url).pathname]
    : [process.argv[1]!];
  const child = spawn(process.execPath, [...self, "--role", kind, "--dir", dir], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (c: Buffer) => {
      out += c;
      const m = /URL (\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once("exit", (code) => reject(new Error(`${kind} server exited ${code}`)));
  });
  return {
    url,
    async stop() {
      child.kill("SIGKILL");
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** `clients` clients doing PUT+GET pairs against `url` for `seconds`. */
async function load(
  kind: string,
  url: string,
  seconds: number,
  clients: number,
  size: number,
): Promise<Result> {
  const latencies: number[] = [];
  let errors = 0;
  let bytes = 0;
  const deadline = performance.now() + seconds * 1000;
  const base = new Uint8Array(size);
  crypto.getRandomValues(base.subarray(0, Math.min(size, 65536)));
  for (let i = 65536; i < size; i += 65536) base.copyWithin(i, 0, Math.min(65536, size - i));
  async function client(id: number): Promise<void> {
    const body = base.slice();
    while (performance.now() < deadline) {
      const n = counter++;
      new DataView(body.buffer).setUint32(0, n);
      new DataView(body.buffer).setUint32(4, id);
      const digest = createHash("md5").update(body).digest("hex");
      let t = performance.now();
      try {
        const put = await fetch(`${url}${digest}`, { method: "PUT", body });
        const locator = (await put.text()).trim();
        if (put.status !== 200) throw new Error(`PUT ${put.status}`);
        latencies.push(performance.now() - t);
        t = performance.now();
        const get = await fetch(`${url}${locator}`);
        const got = new Uint8Array(await get.arrayBuffer());
        if (get.status !== 200 || got.length !== size) throw new Error(`GET ${get.status}`);
        latencies.push(performance.now() - t);
        bytes += 2 * size;
      } catch (error) {
        errors++;
        if (errors < 5) console.error(`${kind}: ${(error as Error).message}`);
      }
    }
  }
  const cpu = async () => {
    const { user, system } = await (await fetch(`${url}cpu`)).json();
    return (user + system) / 1000;
  };
  const cpuBefore = await cpu();
  const started = performance.now();
  await Promise.all(Array.from({ length: clients }, (_, i) => client(i)));
  const elapsed = (performance.now() - started) / 1000;
  const cpuMs = (await cpu()) - cpuBefore;
  return { latencies, errors, bytes, elapsed, cpuMs, requests: latencies.length };
}
