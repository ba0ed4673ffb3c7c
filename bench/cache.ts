/**
 * bench/cache: read a 1 GiB manifest twice from three local block servers
 * (own processes) that add 10 ms per request, in 1 MiB reads.
 * First pass: a client with the block cache, reading ahead as many blocks as
 * the read path's controller finds pay, against one with no cache reading
 * one block at a time. Second pass (from the cache): against reading the same bytes
 * from a local file. Target for the second: >= 0.7x.
 *
 * `npm run bench -- cache [--mib 1024] [--block-size 67108864]`
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BlockCache,
  BlockClient,
  fileSource,
  FileStore,
  openReader,
  type RangeSource,
  type Reader,
} from "../mod.ts";
import { createBlockHandler, serve } from "../lib/server/mod.ts";
import { record } from "./_record.ts";
import { arg, mib, runtime, spawnRole } from "./_utils.ts";

const MiB = 1024 * 1024;
const role = arg("role", "driver");

if (role === "server") {
  const store = new FileStore(arg("dir", ""));
  const handler = createBlockHandler({ store });
  const server = await serve(async (request) => {
    await new Promise((r) => setTimeout(r, 10));
    return handler(request);
  });
  console.log(`URL ${server.url}`);
} else {
  const total = Number(arg("mib", "1024")) * MiB;
  const blockSize = Number(arg("block-size", String(64 * MiB)));
  const base = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
  const root = await mkdtemp(join(base, "stowage-bench-cache-"));
  const children = await Promise.all(
    [0, 1, 2].map((i) => spawnRole(import.meta.url, "server", ["--dir", join(root, `s${i}`)])),
  );
  try {
    const urls = children.map((c) => c.url);
    const data = new Uint8Array(total);
    for (let i = 0; i < total; i += 65536) {
      crypto.getRandomValues(data.subarray(i, Math.min(total, i + 65536)));
    }
    const localFile = join(root, "local.bin");
    await writeFile(localFile, data);
    const writer = new BlockClient({ services: urls, copies: 2, cache: false });
    const sink = writer.writable({ blockSize, blocksInFlight: 2 });
    await new Blob([data]).stream().pipeTo(sink);
    const { manifest } = await sink.result;

    const timeReader = async (reader: Reader) => {
      const started = performance.now();
      let n = 0;
      for (;;) {
        const chunk = await reader.read(MiB);
        if (chunk === null) break;
        n += chunk.length;
      }
      const seconds = (performance.now() - started) / 1000;
      await reader.close();
      if (n !== total) throw new Error(`read ${n} bytes, expected ${total}`);
      return total / seconds;
    };
    const readAll = (source: RangeSource) =>
      timeReader(openReader(source, { maxRangeRequests: 4 }));
    // The same read path with no cache, one block request at a time: no
    // block read ahead of the one being read.
    const bare = new BlockClient({ services: urls, cache: false });
    const bareRate = await timeReader(
      bare.open(manifest, { maxRangeRequests: 1, adaptive: false }),
    );
    console.log(`no cache, one block a time: ${mib(bareRate)}/s`);

    const cache = new BlockCache({ maxBytes: total + 4 * blockSize, maxSlots: 512 });
    const client = new BlockClient({ services: urls, cache });
    const timeOpen = () => timeReader(client.open(manifest));
    const firstPass = await timeOpen();
    console.log(
      `first pass (cache, adaptive): ${mib(firstPass)}/s  ${JSON.stringify(cache.stats)}`,
    );
    const secondPass = await timeOpen();
    console.log(`second pass (from cache):    ${mib(secondPass)}/s`);
    const fileRate = await readAll(await fileSource(localFile));
    console.log(`local file:                  ${mib(fileRate)}/s`);
    const summary = [
      `first pass ${
        (firstPass / bareRate).toFixed(2)
      }x a client with no cache, one block at a time`,
      `second pass ${(secondPass / fileRate).toFixed(2)}x a local file (target 0.7)`,
    ];
    console.log(`RESULT cache (${runtime}): ${summary.join("; ")}`);
    record("cache", summary, [{
      title: "Reading a manifest's blocks from local block servers",
      unit: "MiB/s",
      better: "higher",
      bars: [
        { label: "Stowage, first pass (cache, prefetch)", value: firstPass / MiB, kind: "stowage" },
        {
          label: "Stowage, second pass (from the cache)",
          value: secondPass / MiB,
          kind: "stowage",
        },
        { label: "No cache, one block at a time", value: bareRate / MiB, kind: "baseline" },
        { label: "A local file", value: fileRate / MiB, kind: "limit" },
      ],
    }]);
  } finally {
    for (const c of children) c.stop();
    await rm(root, { recursive: true, force: true });
  }
}
