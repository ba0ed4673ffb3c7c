/**
 * bench/read: sequential 1 MiB reads of an object served over HTTP Range by a
 * local server in its own process, on four emulated links, each read by the
 * default reader (adaptive) and by the same reader fixed at 1, 2, 4, 8 and 16
 * range requests (`adaptive: false`):
 *
 * - `10ms-25MBps`: 10 ms before each response, 25 MB/s per connection;
 * - `50ms-5MBps`: 50 ms, 5 MB/s per connection;
 * - `loopback`: unthrottled;
 * - `shared`: 10 ms, 60 MB/s for all connections together, and 503 (no
 *   Retry-After) to a GET past 4 at once: more connections only cost.
 *
 * Each sample runs in a fresh process of its own and reads for at most
 * `--seconds` (or the whole 2 GiB object); a reader that fails scores zero. Loopback
 * samples are short and noisy, so each contender runs `--rounds` times there,
 * interleaved, and scores its median. Then, on the first link and a 512 MiB
 * object: random 64 KiB reads (bytes fetched / asked), and the older
 * comparisons (a direct Range loop, @chunkd/source-http, generic-filehandle2, four 8 MiB
 * requests in flight); and unthrottled, the default reader against a plain
 * `fetch` body (median of 7 alternating rounds).
 *
 * `npm run bench -- read [--mib 2048] [--seconds 4] [--rounds 5] [--compare-mib 512] [--only links|compare]
 * [--links loopback,shared]`
 */
import { SourceHttp } from "@chunkd/source-http";
import { RemoteFile } from "generic-filehandle2";
import { httpSource, openReader, type ReadOptions } from "../mod.ts";
import { startRangeServer } from "../test/_range_server.ts";
import { type Chart, record } from "./_record.ts";
import { arg, mib, runRole, runtime, spawnRole } from "./_utils.ts";

const MiB = 1024 * 1024;
const role = arg("role", "driver");

/** The emulated links, by name: the range server's options. */
const LINKS: Record<string, Parameters<typeof startRangeServer>[1]> = {
  "10ms-25MBps": { delayMs: 10, bytesPerSecond: 25e6 },
  "50ms-5MBps": { delayMs: 50, bytesPerSecond: 5e6 },
  "loopback": {},
  "shared": { delayMs: 10, sharedBytesPerSecond: 60e6, maxConcurrent: 4 },
};
const FIXED = [1, 2, 4, 8, 16];

if (role === "server") {
  const size = Number(arg("mib", "2048")) * MiB;
  // 64 MiB of random bytes, tiled: nothing on the way compresses, and 2 GiB
  // is ready in a moment.
  const data = new Uint8Array(size);
  const tile = Math.min(size, 64 * MiB);
  for (let i = 0; i < tile; i += 65536) {
    crypto.getRandomValues(data.subarray(i, Math.min(tile, i + 65536)));
  }
  for (let at = tile; at < size; at += tile) data.copyWithin(at, 0, Math.min(tile, size - at));
  const server = await startRangeServer(data, LINKS[arg("link", "loopback")] ?? {});
  console.log(`URL ${server.url}`);
} else if (role === "sample") {
  // One sample: reads the object (for at most --seconds) and prints the rate,
  // 0 when the read failed, and the reader's stats on stderr.
  const url = arg("url", "");
  const fixed = Number(arg("fixed", "0"));
  const seconds = Number(arg("seconds", "4"));
  const options: ReadOptions = fixed > 0 ? { maxRangeRequests: fixed, adaptive: false } : {};
  const started = performance.now();
  const reader = openReader(await httpSource(url), options);
  let n = 0;
  let rate = 0;
  try {
    while (performance.now() - started < seconds * 1000) {
      const chunk = await reader.read(MiB);
      if (chunk === null) break;
      n += chunk.length;
    }
    rate = n / ((performance.now() - started) / 1000);
  } catch (error) {
    console.error(`  failed: ${(error as Error).message}`);
  }
  const s = reader.stats;
  await reader.close();
  console.error(
    `  concurrency ${s.concurrency} (peak ${s.peakConcurrency}), ${s.requests} requests, ${s.pushbacks} pushbacks; ${
      s.concurrencyChanges.map((c) => `${c.atMs}ms:${c.concurrency}${c.reason[0]}`).join(" ")
    }`,
  );
  console.log(`RESULT ${rate}`);
} else if (role === "plain") {
  // Unthrottled pair: four reads of the whole object; prints the rate.
  const url = arg("url", "");
  const total = Number(arg("mib", "2048")) * MiB;
  const read = arg("contender", "plain") === "plain"
    ? async () => {
      let n = 0;
      for await (const chunk of (await fetch(url)).body!) n += chunk.length;
      return n;
    }
    : async () => {
      const reader = openReader(await httpSource(url));
      let n = 0;
      for (;;) {
        const chunk = await reader.read(MiB);
        if (chunk === null) break;
        n += chunk.length;
      }
      await reader.close();
      return n;
    };
  const started = performance.now();
  for (let i = 0; i < 4; i++) {
    const bytes = await read();
    if (bytes !== total) throw new Error(`read ${bytes} bytes, expected ${total}`);
  }
  console.log(`RESULT ${(4 * total) / ((performance.now() - started) / 1000)}`);
} else {
  const sizeMiB = Number(arg("mib", "2048"));
  const seconds = arg("seconds", "4");
  const rounds = Number(arg("rounds", "5"));
  const only = arg("only", "all");
  const startServer = (link: string, mib = sizeMiB) =>
    spawnRole(import.meta.url, "server", ["--mib", String(mib), "--link", link]);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const summary: string[] = [];
  const charts: Chart[] = [];

  if (only === "all" || only === "links") {
    const wanted = arg("links", Object.keys(LINKS).join(",")).split(",");
    for (const link of Object.keys(LINKS).filter((l) => wanted.includes(l))) {
      const server = await startServer(link);
      try {
        console.log(`link ${link}:`);
        const contenders = [0, ...FIXED];
        const samples = new Map<number, number[]>(contenders.map((c) => [c, []]));
        const times = link === "loopback" ? rounds : 1;
        for (let round = 0; round < times; round++) {
          for (const fixed of contenders) {
            const rate = await runRole(import.meta.url, "sample", [
              "--url",
              server.url,
              "--fixed",
              String(fixed),
              "--seconds",
              seconds,
            ]);
            samples.get(fixed)!.push(rate);
            console.log(
              `  ${(fixed === 0 ? "default" : `fixed ${fixed}`).padEnd(10)} ${mib(rate)}/s`,
            );
          }
        }
        const score = (c: number) => median(samples.get(c)!);
        const best = Math.max(...FIXED.map(score));
        const bestAt = FIXED.find((c) => score(c) === best)!;
        const line =
          `${link}: default ${(score(0) / best).toFixed(2)}x the best fixed (${bestAt}), ` +
          `${(score(0) / score(4)).toFixed(2)}x fixed 4`;
        console.log(`  ${line}`);
        summary.push(line);
        charts.push({
          title: `Sequential read over the ${link} link`,
          unit: "MiB/s",
          better: "higher",
          bars: [
            { label: "Stowage, adaptive (default)", value: score(0) / MiB, kind: "stowage" },
            ...FIXED.map((c) => ({
              label: `${c} request${c === 1 ? "" : "s"} in flight, fixed`,
              value: score(c) / MiB,
              kind: "baseline" as const,
            })),
          ],
        });
      } finally {
        server.stop();
      }
    }
  }

  if (only === "all" || only === "compare") {
    // Smaller: the slow contenders read it all at one connection's speed.
    const compareMiB = Number(arg("compare-mib", "512"));
    const total = compareMiB * MiB;
    const randomReads = Number(arg("random", "200"));
    const time = async (name: string, run: () => Promise<number>) => {
      const started = performance.now();
      const bytes = await run();
      const rate = bytes / ((performance.now() - started) / 1000);
      if (bytes !== total) throw new Error(`${name} read ${bytes} bytes, expected ${total}`);
      console.log(`${name.padEnd(34)} ${mib(rate)}/s`);
      return rate;
    };
    const server = await startServer("10ms-25MBps", compareMiB);
    const url = server.url;
    const rates: Record<string, number> = {};
    let amplification = NaN;
    try {
      rates.direct = await time("direct 1 MiB Range loop", async () => {
        let n = 0;
        for (let at = 0; at < total; at += MiB) {
          const res = await fetch(url, {
            headers: { range: `bytes=${at}-${Math.min(total, at + MiB) - 1}` },
          });
          n += (await res.arrayBuffer()).byteLength;
        }
        return n;
      });
      rates.chunkd = await time("@chunkd/source-http 1 MiB reads", async () => {
        const source = new SourceHttp(url);
        let n = 0;
        for (let at = 0; at < total; at += MiB) {
          n += (await source.fetch(at, Math.min(MiB, total - at))).byteLength;
        }
        return n;
      });
      rates.gmod = await time("generic-filehandle2 1 MiB reads", async () => {
        const file = new RemoteFile(url);
        let n = 0;
        for (let at = 0; at < total; at += MiB) {
          n += (await file.read(Math.min(MiB, total - at), at)).length;
        }
        return n;
      });
      rates.limit = await time("four 8 MiB Range requests in flight", async () => {
        let next = 0;
        let n = 0;
        const worker = async () => {
          while (next < total) {
            const at = next;
            next += 8 * MiB;
            const res = await fetch(url, {
              headers: { range: `bytes=${at}-${Math.min(total, at + 8 * MiB) - 1}` },
            });
            // Awaited first: `n += await …` would read n before the await and lose updates.
            const body = await res.arrayBuffer();
            n += body.byteLength;
          }
        };
        await Promise.all([worker(), worker(), worker(), worker()]);
        return n;
      });
      rates.stowage = await time("stowage openReader (default)", async () => {
        const reader = openReader(await httpSource(url));
        let n = 0;
        for (;;) {
          const chunk = await reader.read(MiB);
          if (chunk === null) break;
          n += chunk.length;
        }
        await reader.close();
        return n;
      });
      const random = openReader(await httpSource(url));
      for (let i = 0; i < randomReads; i++) {
        await random.readAt(Math.floor(Math.random() * (total - 65536)), 65536);
      }
      amplification = random.stats.amplification;
      await random.close();
      console.log(
        `random 64 KiB reads: fetched ${
          amplification.toFixed(3)
        }x the bytes asked (${randomReads} reads)`,
      );
    } finally {
      server.stop();
    }

    // An unthrottled pass takes a fraction of a second, so one scheduling
    // hiccup (or the server's warm-up) would decide a single comparison. Each
    // sample reads the object four times, in a fresh process of its own; seven
    // rounds alternate the two contenders, and the ratio is the median of the
    // rounds' ratios.
    const fast = await startServer("loopback", compareMiB);
    const ratios: number[] = [];
    try {
      for (let round = 0; round < 7; round++) {
        const pair: number[] = [];
        for (const contender of ["plain", "stowage"]) {
          const rate = await runRole(import.meta.url, "plain", [
            "--url",
            fast.url,
            "--contender",
            contender,
            "--mib",
            String(compareMiB),
          ]);
          console.log(`unthrottled ${contender.padEnd(22)} ${mib(rate)}/s`);
          pair.push(rate);
        }
        ratios.push(pair[1]! / pair[0]!);
      }
    } finally {
      fast.stop();
    }
    const r = (a: number, b: number) => (a / b).toFixed(2);
    summary.push(
      `10ms-25MBps: ${r(rates.stowage!, rates.limit!)}x four 8 MiB requests in flight, ${
        r(rates.stowage!, rates.direct!)
      }x direct loop, ${r(rates.stowage!, rates.chunkd!)}x chunkd, ${
        r(rates.stowage!, rates.gmod!)
      }x generic-filehandle2; random 64 KiB amplification ${
        amplification.toFixed(2)
      } (target <= 1.25); unthrottled ${median(ratios).toFixed(2)}x a plain body (target 0.8)`,
    );
    charts.push({
      title: `Reading ${compareMiB} MiB over HTTP (10 ms, 25 MB/s a connection)`,
      unit: "MiB/s",
      better: "higher",
      bars: [
        { label: "Stowage openReader", value: rates.stowage! / MiB, kind: "stowage" },
        { label: "Four 8 MiB requests in flight", value: rates.limit! / MiB, kind: "baseline" },
        { label: "1 MiB Range loop", value: rates.direct! / MiB, kind: "baseline" },
        { label: "@chunkd/source-http", value: rates.chunkd! / MiB, kind: "baseline" },
        { label: "generic-filehandle2", value: rates.gmod! / MiB, kind: "baseline" },
      ],
    });
  }
  console.log(`RESULT read (${runtime}):\n  ${summary.join("\n  ")}`);
  if (only === "all") record("read", summary, charts);
}
