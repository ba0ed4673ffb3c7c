/**
 * bench/memory: memory figures that belong in a benchmark, not a test.
 *
 * - `server`: a block server (createBlockHandler over a FileStore, in its own
 *   process, default budget: `maxPutMemory` 256 MiB) and 32 clients that each
 *   send 63 of a 64 MiB PUT body and then stop. Prints the server's RSS before,
 *   its peak (sampled from the first byte: while the uploads stall or wait for
 *   the budget, and as the waiting ones are refused after `putQueueTimeout`),
 *   and after, against the budget.
 * - `client`: one BlockClient doing 20,000 put+get pairs of 1 KiB blocks
 *   against a block server in another process. Prints the client's RSS every
 *   5,000 pairs, against its cache's configured bound.
 *
 * `npm run bench -- memory [--part server|client] [--stallers 32] [--budget-mib 256]
 * [--max-queued-puts 64] [--pairs 20000]`
 */
import { connect } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createBlockHandler, serve } from "../lib/server/mod.ts";
import { BlockClient, FileStore } from "../mod.ts";
import { type Bar, record } from "./_record.ts";
import { arg, gc, mib, runtime, spawnRole } from "./_utils.ts";

const MiB = 1024 * 1024;
const role = arg("role", "driver");

if (role === "server") {
  const handler = createBlockHandler({
    store: new FileStore(arg("dir", "")),
    maxPutMemory: Number(arg("budget-mib", "256")) * MiB,
    maxQueuedPuts: Number(arg("max-queued-puts", "64")),
  });
  // /rss: this process's resident set, for the driver.
  const server = await serve(
    (request) =>
      new URL(request.url).pathname === "/rss"
        ? Response.json(process.memoryUsage())
        : handler(request),
    { port: 0 },
  );
  console.log(`URL ${server.url}`);
} else {
  const part = arg("part", "all");
  const dir = await mkdtemp(join(tmpdir(), "stowage-bench-memory-"));
  const budget = Number(arg("budget-mib", "256"));
  const queued = arg("max-queued-puts", "64");
  const server = await spawnRole(import.meta.url, "server", [
    "--dir",
    dir,
    "--budget-mib",
    String(budget),
    "--max-queued-puts",
    queued,
  ]);
  const rss = async () => ((await (await fetch(`${server.url}rss`)).json()) as { rss: number }).rss;
  const lines: string[] = [];
  const bars: Bar[] = [];
  try {
    if (part === "all" || part === "server") {
      const stallers = Number(arg("stallers", "32"));
      const before = await rss();
      const { port, hostname } = new URL(server.url);
      const piece = new Uint8Array(MiB);
      // Sampled from the first byte on: while uploads wait for the budget,
      // when the waiting ones are refused (putQueueTimeout), and after.
      let peak = 0;
      let sampling = true;
      // Awaited only once the uploads have stalled and been refused: a failed
      // sample is kept until then, not left as an unhandled rejection.
      const sampler = (async () => {
        while (sampling) {
          peak = Math.max(peak, await rss());
          await new Promise((r) => setTimeout(r, 250));
        }
      })().then(() => undefined, (error: unknown) => ({ error }));
      const sockets = await Promise.all(Array.from({ length: stallers }, async (_, i) => {
        const socket = connect(Number(port), hostname);
        socket.on("error", () => {});
        await new Promise((r) => socket.once("connect", r));
        const digest = (i + 1).toString(16).padStart(32, "0");
        socket.write(
          `PUT /${digest} HTTP/1.1\r\nHost: x\r\nContent-Length: ${64 * MiB}\r\n\r\n`,
        );
        // 63 MiB, then nothing.
        for (let sent = 0; sent < 63 && !socket.destroyed; sent++) {
          if (!socket.write(piece)) {
            // A refused upload's connection is closed: no drain comes then.
            await new Promise<void>((resolve) => {
              const done = (): void => {
                socket.off("drain", done);
                socket.off("close", done);
                resolve();
              };
              socket.once("drain", done);
              socket.once("close", done);
            });
          }
        }
        return socket;
      }));
      await new Promise((r) => setTimeout(r, 5000));
      sampling = false;
      const failed = await sampler;
      if (failed !== undefined) throw failed.error;
      const open = sockets.filter((s) => !s.destroyed && !s.readableEnded).length;
      if (process.env.STOWAGE_BENCH_DEBUG) {
        console.log(JSON.stringify(await (await fetch(`${server.url}rss`)).json()));
      }
      for (const s of sockets) s.destroy();
      await new Promise((r) => setTimeout(r, 1000));
      const after = await rss();
      bars.push(
        {
          label: `Server RSS before ${stallers} stalled uploads`,
          value: before / MiB,
          kind: "baseline",
        },
        {
          label: `Server RSS while they stall (budget ${budget} MiB)`,
          value: peak / MiB,
          kind: "stowage",
        },
      );
      lines.push(
        `server: ${stallers} stalled 64 MiB uploads: RSS ${mib(before)} before, peak ${
          mib(peak)
        } while they stall or are refused (${open} still connected), ${mib(after)} after; ` +
          `budget maxPutMemory ${budget} MiB, maxQueuedPuts ${queued}`,
      );
      console.log(lines.at(-1));
    }
    if (part === "all" || part === "client") {
      const pairs = Number(arg("pairs", "20000"));
      const client = new BlockClient({ services: [server.url] });
      const block = new Uint8Array(1024);
      gc();
      const start = process.memoryUsage.rss();
      const marks: string[] = [];
      let peak = start;
      for (let i = 1; i <= pairs; i++) {
        new DataView(block.buffer).setUint32(0, i);
        const { locator } = await client.put(block);
        const got = await client.get(locator);
        if (got.length !== block.length) throw new Error("short read");
        if (i % 1000 === 0) peak = Math.max(peak, process.memoryUsage.rss());
        if (i % 5000 === 0) {
          gc();
          const m = process.memoryUsage();
          marks.push(
            `${i}: RSS ${mib(m.rss)} (live: heap ${mib(m.heapUsed)}, external ${mib(m.external)})`,
          );
        }
      }
      gc();
      bars.push(
        { label: "Client RSS at the start", value: start / MiB, kind: "baseline" },
        {
          label: `Client RSS after ${pairs} put+get pairs`,
          value: process.memoryUsage.rss() / MiB,
          kind: "stowage",
        },
      );
      lines.push(
        `client: ${pairs} put+get pairs of 1 KiB: RSS ${mib(start)} at the start, ${
          marks.join(", ")
        }; peak ${mib(peak)} (the cache's bound: 256 MiB or 512 blocks, here 512 KiB)`,
      );
      console.log(lines.at(-1));
    }
  } finally {
    server.stop();
    await rm(dir, { recursive: true, force: true });
  }
  console.log(`RESULT memory (${runtime}):\n  ${lines.join("\n  ")}`);
  if (part === "all") {
    record("memory", lines, [{ title: "Memory under load", unit: "MiB", better: "lower", bars }]);
  }
}
