import { readdir, readFile, writeFile } from "node:fs/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type CliRun, keyEntriesUnder, recordedBytes, runCli } from "../_cli_process.ts";
import { startKeepServers } from "../_keep_servers.ts";
import { type Origin, startOrigin } from "../_origin_server.ts";
import { join, randomBytes, tempDir } from "../_utils.ts";

const MiB = 1 << 20;
/** The CLI as a child process, killed once `killWhen` holds. */
function cli(
  args: string[],
  env: Record<string, string> = {},
  killWhen?: () => Promise<boolean>,
  stdinFile?: string,
): Promise<CliRun> {
  return runCli(args, {
    env,
    ...(killWhen === undefined ? {} : { killWhen }),
    ...(stdinFile === undefined ? {} : { stdinFile }),
  });
}

describe("stowage fetch, keys and resumable put", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let origin: Origin;
  beforeEach(async () => {
    dir = await tempDir();
    origin = await startOrigin();
  });
  afterEach(async () => {
    await origin.close();
    await dir.cleanup();
  });

  it("fetches once; run again, it moves no body; keys lists, sorts and removes", async () => {
    const store = join(dir.path, "store");
    origin.set("/a.bin", randomBytes(3 * MiB + 1));
    origin.set("/b.bin", randomBytes(MiB));
    const first = await cli(["fetch", origin.url("/a.bin"), "--dir", store, "--block-size", "1M"]);
    expect(first.err).toBe("");
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/^\. [0-9a-f]{32}\+1048576 .* 0:3145729:a\.bin\n$/);
    const sent = origin.bodyBytes;
    const second = await cli(["fetch", origin.url("/a.bin"), "--dir", store, "--json"]);
    expect(second.code, second.err).toBe(0);
    expect(origin.bodyBytes).toBe(sent);
    const json = JSON.parse(second.out);
    expect(json).toMatchObject({ reused: true, fetched: 0, key: { key: origin.url("/a.bin") } });
    await cli(["fetch", origin.url("/b.bin"), "--dir", store]);
    // Answered from the index: no request, but a.bin is now the one used last.
    const requests = origin.requests.length;
    const offlineHit = await cli(["fetch", origin.url("/a.bin"), "--dir", store, "--offline"]);
    expect(offlineHit.out).toBe(first.out);
    expect(origin.requests.length).toBe(requests);
    const bySize = await cli(["keys", "--dir", store, "--sort", "size"]);
    expect(bySize.code).toBe(0);
    expect(bySize.out.trim().split("\n").map((l) => l.split(/\s+/).at(-1))).toEqual([
      origin.url("/a.bin"),
      origin.url("/b.bin"),
    ]);
    const asJson = await cli(["keys", "--dir", store, "--json", "--sort", "atime"]);
    expect(asJson.out.trim().split("\n").map((l) => JSON.parse(l).key)).toEqual([
      origin.url("/b.bin"),
      origin.url("/a.bin"),
    ]);
    expect((await cli(["keys", "rm", origin.url("/a.bin"), "--dir", store])).code).toBe(0);
    const gone = await cli(["keys", "rm", origin.url("/a.bin"), "--dir", store]);
    expect(gone.code).toBe(1);
    expect(gone.err).toMatch(/^stowage: .*has no entry for/);
    expect((await cli(["keys", "--dir", store])).out.trim().split("\n").length).toBe(1);
    const offline = await cli(["fetch", origin.url("/a.bin"), "--dir", store, "--offline"]);
    expect(offline.code).toBe(1);
    expect(offline.err).toMatch(/never fetched/);
  });

  it("says 401 in one line, and reads credentials from $NETRC", async () => {
    const store = join(dir.path, "store");
    origin.behaviour.auth = "carol:hunter2-Netrc";
    origin.set("/p", randomBytes(1000));
    const refused = await cli(["fetch", origin.url("/p"), "--dir", store]);
    expect(refused.code).toBe(1);
    expect(refused.err.trim().split("\n").length).toBe(1);
    expect(refused.err).toMatch(/AuthError|refused the credentials/);
    const netrc = join(dir.path, "netrc");
    await writeFile(netrc, "machine 127.0.0.1\n  login carol\n  password hunter2-Netrc\n");
    const ok = await cli(["fetch", origin.url("/p"), "--dir", store], { NETRC: netrc });
    expect(ok.code, ok.err).toBe(0);
    for (const file of await readdir(store, { recursive: true })) {
      const bytes = await readFile(join(store, String(file))).catch(() => undefined);
      if (bytes !== undefined) expect(bytes.includes("hunter2-Netrc")).toBe(false);
    }
  });

  it("resumes a fetch killed half-way: the rerun moves what was missing plus at most one block", async () => {
    const store = join(dir.path, "store");
    const size = 24 * MiB;
    origin.set("/big", randomBytes(size));
    origin.behaviour.rate = 12 * MiB;
    const args = ["fetch", origin.url("/big"), "--dir", store, "--block-size", "1M", "--quiet"];
    const killed = await cli(args, {}, async () => {
      return recordedBytes((await keyEntriesUnder(join(store, "keys")))[0]) >= 8 * MiB;
    });
    expect(killed.killed).toBe(true);
    const stored = recordedBytes((await keyEntriesUnder(join(store, "keys")))[0]);
    expect(stored).toBeGreaterThanOrEqual(8 * MiB);
    expect(stored).toBeLessThan(size);
    origin.behaviour.rate = 0;
    const before = origin.bodyBytes;
    const rerun = await cli([...args, "--json"]);
    expect(rerun.code, rerun.err).toBe(0);
    const moved = origin.bodyBytes - before;
    expect(moved).toBeLessThanOrEqual(size - stored + MiB + size / 100);
    expect(JSON.parse(rerun.out)).toMatchObject({ resumed: true, key: { size } });
  });

  it("puts a file even where no resume record can be kept, saying so once", async () => {
    const { urls, close } = await startKeepServers(1);
    try {
      const file = join(dir.path, "input.bin");
      await writeFile(file, randomBytes(3 * MiB));
      const notAFolder = join(dir.path, "cache-is-a-file");
      await writeFile(notAFolder, "");
      const run = await cli(
        ["put", file, "--service", urls[0]!, "--copies", "1", "--block-size", "1M"],
        { XDG_CACHE_HOME: notAFolder },
      );
      expect(run.code, run.err).toBe(0);
      expect(run.out).toMatch(/ 0:3145728:input\.bin\n$/);
      expect(run.err.match(/cannot keep a resume record/g)?.length).toBe(1);
    } finally {
      await close();
    }
  });

  it("resumes a put killed half-way: the rerun sends only the missing blocks (plus one)", async () => {
    const cache = join(dir.path, "cache");
    const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const { urls, servers, close } = await startKeepServers(1, () => async (request) => {
      if (request.method === "PUT") await delay(60);
      return undefined;
    });
    try {
      const file = join(dir.path, "input.bin");
      await writeFile(file, randomBytes(16 * MiB));
      const args = ["put", file, "--service", urls[0]!, "--copies", "1", "--block-size", "1M"];
      const env = { XDG_CACHE_HOME: cache };
      const killed = await cli(args, env, async () => {
        const entries = await keyEntriesUnder(join(cache, "stowage", "keys"));
        return (entries[0]?.partial?.pieces.length ?? 0) >= 6;
      });
      expect(killed.killed).toBe(true);
      const entry = (await keyEntriesUnder(join(cache, "stowage", "keys")))[0]!;
      expect(entry.key).toBe(`put:${file}`);
      const done = entry.partial!.pieces.length;
      const putsBefore = servers[0]!.requests.PUT ?? 0;
      const rerun = await cli([...args, "--json"], env);
      expect(rerun.code, rerun.err).toBe(0);
      const sent = (servers[0]!.requests.PUT ?? 0) - putsBefore;
      expect(sent).toBeLessThanOrEqual(16 - done + 1);
      expect(JSON.parse(rerun.out).stored.chunksReused).toBe(done);
      // The record is gone once the put is done.
      expect(await keyEntriesUnder(join(cache, "stowage", "keys"))).toEqual([]);
      // --dry-run says what would be sent; the same bytes from stdin with
      // --skip-existing send nothing.
      const service = ["--service", urls[0]!, "--block-size", "1M", "--copies", "1"];
      const dry = await cli(["put", file, ...service, "--dry-run"], env);
      expect(dry.code).toBe(0);
      expect(dry.out).toMatch(/^0 of 16 blocks/);
      const puts = servers[0]!.requests.PUT ?? 0;
      const fromStdin = await cli(
        ["put", "-", ...service, "--skip-existing"],
        env,
        undefined,
        file,
      );
      expect(fromStdin.code, fromStdin.err).toBe(0);
      expect(servers[0]!.requests.PUT ?? 0).toBe(puts);
      expect(fromStdin.out).toMatch(/ 0:16777216:stdin\n$/);
      await writeFile(file, randomBytes(MiB));
      const dryNew = await cli(["put", file, ...service, "--dry-run"], env);
      expect(dryNew.code).toBe(2);
      expect(dryNew.out).toMatch(/^1 of 1 blocks/);
    } finally {
      await close();
    }
  });
});
