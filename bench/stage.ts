/**
 * `npm run bench -- stage`: the work `stowage fetch` and `stowage put` avoid,
 * on a 96 MiB object in 64 MiB blocks (Keep's size) in the local file store,
 * from an origin on 127.0.0.1:
 *
 * - a first fetch, against a plain download to a file (`fetch` → file) in the
 *   same run;
 * - a second fetch of the unchanged object: body bytes moved;
 * - a fetch whose connection drops once: bytes moved over the object's size;
 * - `stowage fetch` and `stowage put` as processes killed with SIGKILL once a
 *   block is recorded, then run again: bytes the rerun moved against what was
 *   missing;
 * - credentials from a netrc: whether the password is in any file of the store.
 *
 * @module
 */
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { BlockClient, FileStore } from "../mod.ts";
import { fileWritable } from "../lib/platform/_node_io.ts";
import { keyEntriesUnder, recordedBytes, runCli } from "../test/_cli_process.ts";
import { startKeepServers } from "../test/_keep_servers.ts";
import { startOrigin } from "../test/_origin_server.ts";
import { join, randomBytes, tempDir } from "../test/_utils.ts";
import { record } from "./_record.ts";
import { arg, runtime } from "./_utils.ts";

const MiB = 1 << 20;
const size = Number(arg("mib", "96")) * MiB;
const block = 64 * MiB;
const cli = (args: string[], env: Record<string, string>, killWhen?: () => Promise<boolean>) =>
  runCli(args, { env, ...(killWhen === undefined ? {} : { killWhen }) });

const dir = await tempDir();
const origin = await startOrigin();
try {
  const body = randomBytes(size);
  origin.set("/object.bin", body);
  const url = origin.url("/object.bin");

  // A plain download to a file, as curl -o would: the baseline.
  let t = performance.now();
  const response = await fetch(url);
  await response.body!.pipeTo(fileWritable(join(dir.path, "plain.bin")));
  const plainSeconds = (performance.now() - t) / 1000;
  await rm(join(dir.path, "plain.bin"));

  const store = new FileStore(join(dir.path, "store"));
  const client = new BlockClient({ services: [store], cache: false });
  let sent = origin.bodyBytes;
  t = performance.now();
  const first = await client.stage(url);
  const firstSeconds = (performance.now() - t) / 1000;
  const firstMoved = origin.bodyBytes - sent;

  sent = origin.bodyBytes;
  t = performance.now();
  const second = await client.stage(url);
  const secondMs = performance.now() - t;
  const secondMoved = origin.bodyBytes - sent;

  origin.set("/dropped.bin", body);
  origin.behaviour.dropAt = [Math.floor(size * 0.8)];
  sent = origin.bodyBytes;
  const dropped = await client.stage(origin.url("/dropped.bin"), {
    onWarning: () => {},
    retry: { baseDelay: 10 },
  });
  const droppedMoved = origin.bodyBytes - sent;

  // stowage fetch, killed once its first block is recorded, then run again.
  const killedStore = join(dir.path, "killed");
  origin.set("/killed.bin", body);
  origin.behaviour.rate = 48 * MiB;
  const fetchArgs = ["fetch", origin.url("/killed.bin"), "--dir", killedStore, "--quiet"];
  const kill = await cli(
    fetchArgs,
    {},
    async () => recordedBytes((await keyEntriesUnder(join(killedStore, "keys")))[0]) > 0,
  );
  const fetchStored = recordedBytes((await keyEntriesUnder(join(killedStore, "keys")))[0]);
  origin.behaviour.rate = 0;
  sent = origin.bodyBytes;
  const rerun = await cli(fetchArgs, {});
  const fetchRerunMoved = origin.bodyBytes - sent;
  if (!kill.killed || rerun.code !== 0) throw new Error("the killed fetch did not run as planned");

  // stowage put, killed once its first block is recorded, then run again.
  const file = join(dir.path, "input.bin");
  await writeFile(file, body);
  // To a block server that takes 400 ms per PUT, one block at a time, so
  // the kill lands between blocks.
  const servers = await startKeepServers(1, () => async (request) => {
    if (request.method === "PUT") await new Promise((resolve) => setTimeout(resolve, 400));
    return undefined;
  });
  const cache = join(dir.path, "cache");
  const putArgs = [
    "put",
    file,
    "--service",
    servers.urls[0]!,
    "--copies",
    "1",
    "--blocks-in-flight",
    "1",
    "--json",
    "--quiet",
  ];
  const putEnv = { XDG_CACHE_HOME: cache };
  const putKill = await cli(
    putArgs,
    putEnv,
    async () => recordedBytes((await keyEntriesUnder(join(cache, "stowage", "keys")))[0]) > 0,
  );
  const putStored = recordedBytes((await keyEntriesUnder(join(cache, "stowage", "keys")))[0]);
  const putRerun = await cli(putArgs, putEnv);
  await servers.close();
  const putRerunMoved = JSON.parse(putRerun.out).stored.bytesStored as number;
  if (!putKill.killed || putRerun.code !== 0) {
    throw new Error(
      `the killed put did not run as planned: killed ${putKill.killed}, rerun exit ${putRerun.code}`,
    );
  }

  // Credentials from a netrc: the password must be in no file of the store.
  origin.behaviour.auth = "bench:netrc-Secret-42";
  origin.set("/private.bin", body.subarray(0, MiB));
  const netrc = join(dir.path, "netrc");
  await writeFile(netrc, "machine 127.0.0.1 login bench password netrc-Secret-42\n");
  await client.stage(origin.url("/private.bin"), { netrc });
  let leaks = 0;
  for (const f of (await readdir(store.root, { recursive: true })).map(String)) {
    const bytes = await readFile(join(store.root, f)).catch(() => undefined);
    if (bytes?.includes("netrc-Secret-42")) leaks++;
  }
  origin.behaviour.auth = undefined;

  const ok = second.reused && secondMoved === 0 && first.fetched === size && dropped.fetched > 0;
  const r = (n: number) => (n / size).toFixed(3);
  const allowed = (missing: number) => missing + block + size / 100;
  const summary = [
    `${size / MiB} MiB object, 64 MiB blocks, file store (${runtime})`,
    `first fetch: ${(size / MiB / firstSeconds).toFixed(0)} MiB/s, ${
      (plainSeconds / firstSeconds).toFixed(2)
    }× a plain download to a file (${(size / MiB / plainSeconds).toFixed(0)} MiB/s); moved ${
      r(firstMoved)
    }× the object`,
    `second fetch, unchanged: ${secondMoved} body bytes moved, ${secondMs.toFixed(0)} ms${
      ok ? "" : " (CHECK FAILED)"
    }`,
    `one dropped connection (at 80%): moved ${r(droppedMoved)}× the object (allowed: ${
      r(size + block)
    })`,
    `fetch killed (SIGKILL) with ${fetchStored / MiB} MiB recorded: the rerun moved ${
      (fetchRerunMoved / MiB).toFixed(1)
    } MiB; missing ${(size - fetchStored) / MiB} MiB, allowed ${
      (allowed(size - fetchStored) / MiB).toFixed(1)
    } MiB`,
    `put killed (SIGKILL) with ${putStored / MiB} MiB recorded: the rerun stored ${
      (putRerunMoved / MiB).toFixed(1)
    } MiB; missing ${(size - putStored) / MiB} MiB, allowed ${
      (allowed(size - putStored) / MiB).toFixed(1)
    } MiB`,
    `netrc password found in ${leaks} file(s) of the store`,
  ];
  for (const line of summary) console.log(line);
  record("stage", summary, [
    {
      title: `Bytes moved from the origin, × the object (${size / MiB} MiB)`,
      unit: "× object",
      better: "lower",
      bars: [
        { label: "first fetch", value: firstMoved / size, kind: "baseline" },
        { label: "second fetch (unchanged)", value: secondMoved / size, kind: "stowage" },
        { label: "fetch with a dropped connection", value: droppedMoved / size, kind: "stowage" },
        { label: "rerun of a killed fetch", value: fetchRerunMoved / size, kind: "stowage" },
        { label: "rerun of a killed put (stored)", value: putRerunMoved / size, kind: "stowage" },
      ],
    },
    {
      title: "First fetch speed",
      unit: "MiB/s",
      better: "higher",
      bars: [
        {
          label: "stowage fetch (stored, hashed)",
          value: size / MiB / firstSeconds,
          kind: "stowage",
        },
        { label: "plain download to a file", value: size / MiB / plainSeconds, kind: "baseline" },
      ],
    },
  ]);
  void first;
} finally {
  await origin.close();
  await dir.cleanup();
}
