/**
 * bench/read: a local HTTP server (own process) that adds 10 ms before each
 * response and caps each connection at 25 MB/s serves an object read
 * sequentially in 1 MiB reads by: plain fetch(url).body; a loop of direct 1 MiB
 * Range fetches; @chunkd/source-http and generic-filehandle2 reading the same
 * way; the four-connection limit (four 8 MiB Range requests kept in flight);
 * and Stowage's openReader over httpSource (maxRangeRequests 4). Then random 64 KiB
 * reads (bytes fetched / asked), and an unthrottled run against a plain body.
 *
 * `npm run bench -- read [--mib 512] [--random 200] [--only unthrottled]`
 */
import { SourceHttp } from "@chunkd/source-http";
import { RemoteFile } from "generic-filehandle2";
import { httpSource, openReader } from "../mod.ts";
import { startRangeServer } from "../test/_range_server.ts";
import { arg, mib, runRole, runtime, spawnRole } from "./_utils.ts";

const MiB = 1024 * 1024;
const role = arg("role", "driver");

if (role === "reader") {
  // One unthrottled sample: four reads of the whole object; prints the rate.
  const url = arg("url", "");
  const total = Number(arg("mib", "512")) * MiB;
  const read = arg("contender", "plain") === "plain"
    ? async () => {
      let n = 0;
      for await (const chunk of (await fetch(url)).body!) n += chunk.length;
      return n;
    }
    : async () => {
      const reader = openReader(await httpSource(url), { maxRangeRequests: 4 });
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
} else if (role === "server") {
  const size = Number(arg("mib", "512")) * MiB;
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) {
    crypto.getRandomValues(data.subarray(i, Math.min(size, i + 65536)));
  }
  const throttled = arg("throttle", "yes") === "yes";
  const server = await startRangeServer(
    data,
    throttled ? { delayMs: 10, bytesPerSecond: 25e6 } : {},
  );
  console.log(`URL ${server.url}`);
} else {
  const sizeMiB = Number(arg("mib", "512"));
  const total = sizeMiB * MiB;
  const randomReads = Number(arg("random", "200"));

  const startServer = (throttle: boolean) =>
    spawnRole(import.meta.url, "server", [
      "--mib",
      String(sizeMiB),
      "--throttle",
      throttle ? "yes" : "no",
    ]);

  const time = async (name: string, run: () => Promise<number>) => {
    const started = performance.now();
    const bytes = await run();
    const rate = bytes / ((performance.now() - started) / 1000);
    if (bytes !== total) throw new Error(`${name} read ${bytes} bytes, expected ${total}`);
    console.log(`${name.padEnd(34)} ${mib(rate)}/s`);
    return rate;
  };

  const plainBody = async (url: string) => {
    let n = 0;
    for await (const chunk of (await fetch(url)).body!) n += chunk.length;
    return n;
  };

  const only = arg("only", "all");
  const server = await startServer(true);
  const url = server.url;
  const rates: Record<string, number> = {};
  let amplification = NaN;
  try {
    if (only !== "unthrottled") {
      rates.plain = await time("plain fetch(url).body", () => plainBody(url));
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
      let stats;
      rates.stowage = await time("stowage openReader, maxRangeRequests 4", async () => {
        const reader = openReader(await httpSource(url), { maxRangeRequests: 4 });
        let n = 0;
        for (;;) {
          const chunk = await reader.read(MiB);
          if (chunk === null) break;
          n += chunk.length;
        }
        stats = reader.stats;
        await reader.close();
        return n;
      });
      console.log(`  stats: ${JSON.stringify(stats)}`);
      const random = openReader(await httpSource(url), { maxRangeRequests: 4 });
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
    }
    server.stop();

    const fast = await startServer(false);
    // An unthrottled pass takes a fraction of a second, so one scheduling
    // hiccup (or the server's warm-up) would decide a single comparison. Each
    // sample reads the object four times, in a fresh process of its own: in
    // the driver, the garbage of the runs before (its old generation) would
    // tax whichever contender allocates more. Seven rounds alternate the two
    // contenders, and the ratio is the median of the rounds' ratios.
    const sample = async (contender: "plain" | "stowage") => {
      const rate = await runRole(import.meta.url, "reader", [
        "--url",
        fast.url,
        "--contender",
        contender,
        "--mib",
        String(sizeMiB),
      ]);
      const name = contender === "plain"
        ? "unthrottled plain body"
        : "unthrottled stowage openReader";
      console.log(`${name.padEnd(34)} ${mib(rate)}/s`);
      return rate;
    };
    const ratios: number[] = [];
    let fastPlain = 0;
    let fastStowage = 0;
    for (let round = 0; round < 7; round++) {
      const plainRate = await sample("plain");
      const stowageRate = await sample("stowage");
      ratios.push(stowageRate / plainRate);
      fastPlain += plainRate / 7;
      fastStowage += stowageRate / 7;
    }
    ratios.sort((x, y) => x - y);
    const unthrottled = ratios[3]!;
    console.log(
      `unthrottled: mean ${mib(fastStowage)}/s vs ${mib(fastPlain)}/s; round ratios ${
        ratios.map((x) => x.toFixed(2)).join(" ")
      }`,
    );
    fast.stop();
    const r = (a: number, b: number) => (a / b).toFixed(2);
    console.log(
      `RESULT read (${runtime}): ${
        r(rates.stowage!, rates.limit!)
      }x the four-connection limit (target 0.9), ` +
        `${r(rates.stowage!, rates.direct!)}x direct loop, ${
          r(rates.stowage!, rates.chunkd!)
        }x chunkd, ` +
        `${
          r(rates.stowage!, rates.gmod!)
        }x generic-filehandle2 (target 3.5), random 64 KiB amplification ${
          amplification.toFixed(2)
        } (target <= 1.25), unthrottled ${
          unthrottled.toFixed(2)
        }x plain body, median of 7 rounds (target 0.8)`,
    );
  } finally {
    server.stop();
  }
}
