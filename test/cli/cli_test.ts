import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { type CliIO, main, parseSize } from "../../cli/main.ts";
import { Manifest } from "../../mod.ts";
import { concat, join, randomBytes, runtime, streamOf, tempDir } from "../_utils.ts";

function memoryIO(
  stdin: Uint8Array = new Uint8Array(),
): CliIO & { out: () => string; err: () => string; bytes: () => Uint8Array } {
  const chunks: Uint8Array[] = [];
  let err = "";
  return {
    stdin: () => streamOf([stdin]),
    stdout: () => new WritableStream({ write: (c) => void chunks.push(c) }),
    stderr: (t) => void (err += t),
    out: () => new TextDecoder().decode(concat(chunks)),
    err: () => err,
    bytes: () => concat(chunks),
  };
}

describe("stowage CLI (in-process)", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(() => dir.cleanup());

  it("put prints a Keep manifest; get writes the bytes back", async () => {
    const data = randomBytes(300_000);
    const input = join(dir.path, "in.bin");
    await writeFile(input, data);
    const store = join(dir.path, "store");
    const put = memoryIO();
    expect(await main(["put", input, "--dir", store, "--block-size", "100K"], put)).toBe(0);
    const manifest = Manifest.parse(put.out());
    expect(manifest.files[0]!.name).toBe("in.bin");
    expect(manifest.blocks().length).toBe(3);
    const manifestFile = join(dir.path, "m.txt");
    await writeFile(manifestFile, put.out());
    const out = join(dir.path, "out.bin");
    const get = memoryIO();
    expect(await main(["get", manifestFile, "--dir", store, "-o", out], get)).toBe(0);
    expect(new Uint8Array(await readFile(out))).toEqual(data);
    const toStdout = memoryIO();
    expect(await main(["get", manifestFile, "--dir", store], toStdout)).toBe(0);
    expect(toStdout.bytes()).toEqual(data);
  });

  it("put - reads stdin, --json prints JSON, get - reads the manifest from stdin", async () => {
    const store = join(dir.path, "store");
    const put = memoryIO(new TextEncoder().encode("hello"));
    expect(await main(["put", "-", "--json", "--dir", store, "--algorithm", "sha256"], put)).toBe(
      0,
    );
    const json = JSON.parse(put.out());
    expect(json.files[0].name).toBe("stdin");
    expect(json.files[0].segments[0].locator).toMatch(/^[0-9a-f]{64}\+5$/);
    const get = memoryIO(new TextEncoder().encode(put.out()));
    expect(await main(["get", "-", "--dir", store], get)).toBe(0);
    expect(get.out()).toBe("hello");
  });

  it("ls lists stored blocks", async () => {
    const store = join(dir.path, "store");
    await main(["put", "-", "--dir", store], memoryIO(new TextEncoder().encode("foo")));
    const ls = memoryIO();
    expect(await main(["ls", "--dir", store], ls)).toBe(0);
    expect(ls.out()).toMatch(/^acbd18db4cc2f85cedef654fccc4a4d8\+3 \d{4}-\d\d-\d\dT/);
    const json = memoryIO();
    expect(await main(["ls", "--json", "--prefix", "acb", "--dir", store], json)).toBe(0);
    expect(JSON.parse(json.out()).size).toBe(3);
  });

  const usage: [string, string[]][] = [
    ["no command", []],
    ["an unknown command", ["frobnicate"]],
    ["an unknown flag", ["put", "x", "--bogus"]],
    ["put without input", ["put"]],
    ["get with two inputs", ["get", "a", "b"]],
    ["a bad block size", ["put", "-", "--block-size", "lots"]],
    ["a bad algorithm", ["put", "-", "--algorithm", "sha1"]],
    ["a bad ls prefix", ["ls", "--prefix", "XYZ"]],
  ];
  for (const [what, args] of usage) {
    it(`prints usage and exits 2 on ${what}`, async () => {
      const io = memoryIO();
      expect(await main([...args, "--dir", join(dir.path, "s")], io)).toBe(2);
      expect(io.err()).toMatch(/Usage: stowage/);
    });
  }

  it("exits 1 with the typed message on storage errors", async () => {
    const manifestFile = join(dir.path, "m.txt");
    await writeFile(manifestFile, ". acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:foo\n");
    const io = memoryIO();
    expect(await main(["get", manifestFile, "--dir", join(dir.path, "s")], io)).toBe(1);
    expect(io.err()).toMatch(/Block 'acbd18db4cc2f85cedef654fccc4a4d8\+3' not found/);
    await writeFile(manifestFile, ". nonsense 0:3:foo\n");
    const bad = memoryIO();
    expect(await main(["get", manifestFile, "--dir", join(dir.path, "s")], bad)).toBe(1);
    expect(bad.err()).toMatch(/line 1, column 3/);
    const missing = memoryIO();
    expect(await main(["put", join(dir.path, "nope"), "--dir", join(dir.path, "s")], missing)).toBe(
      1,
    );
    expect(missing.err()).toMatch(/ENOENT/);
  });

  it("shows help and version", async () => {
    const help = memoryIO();
    expect(await main(["--help"], help)).toBe(0);
    expect(help.out()).toMatch(/Usage: stowage/);
    const version = memoryIO();
    expect(await main(["--version"], version)).toBe(0);
    expect(version.out()).toMatch(/^stowage \d+\.\d+\.\d+/);
  });

  it("put --chunking content stores a new version's new chunks only, and get reads it back", async () => {
    const store = join(dir.path, "cdc-store");
    const v1 = randomBytes(3 * 1024 * 1024);
    const v2 = new Uint8Array(
      Buffer.concat([v1.subarray(0, 1_000_000), randomBytes(500), v1.subarray(1_000_000)]),
    );
    const stored: { bytes: number; bytesStored: number; chunksReused: number }[] = [];
    for (const [i, version] of [v1, v2].entries()) {
      const file = join(dir.path, `v${i + 1}.bin`);
      await writeFile(file, version);
      const io = memoryIO();
      expect(await main(["put", file, "--chunking", "content", "--json", "--dir", store], io)).toBe(
        0,
      );
      const json = JSON.parse(io.out());
      stored.push(json.stored);
      const manifestFile = join(dir.path, `v${i + 1}.manifest`);
      await writeFile(manifestFile, Manifest.fromJSON(json).toText());
      const out = join(dir.path, `v${i + 1}.out`);
      expect(await main(["get", manifestFile, "-o", out, "--dir", store], memoryIO())).toBe(0);
      expect(Buffer.from(await readFile(out)).equals(Buffer.from(version))).toBe(true);
    }
    expect(stored[0]!.bytesStored).toBe(v1.length);
    expect(stored[1]!.bytes).toBe(v2.length);
    expect(stored[1]!.bytesStored).toBeLessThan(600 * 1024);
    expect(stored[1]!.chunksReused).toBeGreaterThan(20);
    const bad = memoryIO();
    expect(
      await main(["put", join(dir.path, "v1.bin"), "--chunking", "rabin", "--dir", store], bad),
    )
      .toBe(2);
    expect(bad.err()).toMatch(/--chunking must be fixed or content/);
  });

  it("put --json reports the portable data hash; get --file dir/ writes a folder's files", async () => {
    const store = join(dir.path, "store");
    const put = memoryIO(new TextEncoder().encode("foo"));
    expect(await main(["put", "-", "--json", "--name", "foo", "--dir", store], put)).toBe(0);
    expect(JSON.parse(put.out()).portableDataHash).toBe("1f4b0bc7583c2a7f9102c395f4ffc5e3+45");
    const manifestFile = join(dir.path, "tree.txt");
    await writeFile(
      manifestFile,
      ". acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:top\n" +
        "./d acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:a 0:3:sub/b\n" +
        "./d/empty d41d8cd98f00b204e9800998ecf8427e+0 0:0:\\056\n",
    );
    const out = join(dir.path, "out");
    expect(
      await main(["get", manifestFile, "--file", "./d/", "-o", out, "--dir", store], memoryIO()),
    )
      .toBe(0);
    expect(await readFile(join(out, "a"), "utf8")).toBe("foo");
    expect(await readFile(join(out, "sub", "b"), "utf8")).toBe("foo");
    expect(existsSync(join(out, "empty"))).toBe(true);
    expect(existsSync(join(out, "top"))).toBe(false);
    // A folder needs an output folder; a path not in the manifest is a usage error.
    expect(await main(["get", manifestFile, "--file", "d", "--dir", store], memoryIO())).toBe(2);
    expect(await main(["get", manifestFile, "--file", "nope", "--dir", store], memoryIO())).toBe(2);
    // Paths as users type them.
    const one = memoryIO();
    expect(await main(["get", manifestFile, "--file", "/d//sub/b", "--dir", store], one)).toBe(0);
    expect(one.out()).toBe("foo");
  });

  it("get leaves nothing at -o when a block is missing", async () => {
    const manifestFile = join(dir.path, "m.txt");
    await writeFile(manifestFile, ". acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:foo\n");
    const out = join(dir.path, "out.bin");
    const io = memoryIO();
    expect(await main(["get", manifestFile, "-o", out, "--dir", join(dir.path, "s")], io)).toBe(1);
    expect(existsSync(out)).toBe(false);
    const { readdir } = await import("node:fs/promises");
    expect((await readdir(dir.path)).filter((n) => n.startsWith(".tmp-"))).toEqual([]);
  });

  it("prints only a command's own options with <command> --help, from its table", async () => {
    const { COMMANDS } = await import("../../cli/main.ts");
    for (const command of COMMANDS) {
      const io = memoryIO();
      expect(await main([command.name, "--help"], io)).toBe(0);
      const text = io.out();
      expect(text).toMatch(new RegExp(`^Usage: stowage ${command.name}`));
      for (const name of Object.keys(command.options)) expect(text).toContain(`--${name}`);
      const others = COMMANDS.flatMap((c) => Object.keys(c.options))
        .filter((name) => !(name in command.options));
      for (const name of others) expect(text).not.toMatch(new RegExp(`--${name}\\b`));
    }
  });

  it("refuses another command's flag with exit 2", async () => {
    const io = memoryIO();
    expect(await main(["ls", "--copies", "3", "--dir", join(dir.path, "s")], io)).toBe(2);
    expect(io.err()).toMatch(/Unknown option '--copies'/);
    expect(io.err()).toMatch(/Usage: stowage ls/);
  });

  it("reports an unexpected error as one line, exit 1; a stack only under --debug", async () => {
    const broken = (): ReturnType<typeof memoryIO> => ({
      ...memoryIO(),
      stdout: () => {
        throw new Error("boom");
      },
    });
    let io = broken();
    expect(await main(["--version"], io)).toBe(1);
    expect(io.err()).toBe("stowage: boom\n");
    io = broken();
    expect(await main(["--version", "--debug"], io)).toBe(1);
    expect(io.err()).toMatch(/^stowage: boom\nError: boom\n\s+at /);
    io = { ...broken(), env: { STOWAGE_DEBUG: "1" } };
    expect(await main(["--version"], io)).toBe(1);
    expect(io.err()).toMatch(/\s+at /);
  });

  it("takes -V for --version and help <command>", async () => {
    const version = memoryIO();
    expect(await main(["-V"], version)).toBe(0);
    expect(version.out()).toMatch(/^stowage \d+\.\d+\.\d+\n$/);
    const help = memoryIO();
    expect(await main(["help", "cat"], help)).toBe(0);
    expect(help.out()).toMatch(/^Usage: stowage cat/);
  });

  it("parses sizes", () => {
    expect(parseSize("1048576")).toBe(1048576);
    expect(parseSize("64M")).toBe(64 * 1024 * 1024);
    expect(parseSize("64MiB")).toBe(64 * 1024 * 1024);
    expect(parseSize("8k")).toBe(8192);
    expect(() => parseSize("0")).toThrow();
    expect(parseSize("0", "--max-bytes", 0)).toBe(0);
  });
});

describe("stowage CLI (as a process)", () => {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const command = runtime === "deno"
    ? [process.execPath, "run", "-A", join(root, "cli", "main.ts")]
    : [process.execPath, join(root, "bin", "stowage.js")];

  function run(
    args: string[],
    input?: Uint8Array,
  ): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(command[0]!, [...command.slice(1), ...args], { stdio: "pipe" });
      const out: Buffer[] = [];
      let err = "";
      child.stdout.on("data", (c: Buffer) => out.push(c));
      child.stderr.on("data", (c: Buffer) => (err += c));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
      child.stdin.end(input ?? new Uint8Array());
    });
  }

  it(`put and get round-trip through ${runtime === "deno" ? "deno run cli/main.ts" : "bin/stowage.js"}`, async () => {
    if (runtime === "node" && !existsSync(join(root, "dist", "cli.js"))) {
      throw new Error(
        "dist/cli.js is missing: run `npm run build` (npm install does it) before the tests",
      );
    }
    const dir = await tempDir();
    try {
      const data = randomBytes(200_000);
      const store = join(dir.path, "store");
      const put = await run(["put", "-", "--dir", store, "--block-size", "64K"], data);
      expect(put.stderr).toBe("");
      expect(put.code).toBe(0);
      const get = await run(["get", "-", "--dir", store], put.stdout);
      expect(get.code).toBe(0);
      expect(new Uint8Array(get.stdout)).toEqual(data);
      const bad = await run(["nonsense"]);
      expect(bad.code).toBe(2);
    } finally {
      await dir.cleanup();
    }
  });
});

describe("stowage put/get with block services", () => {
  it("uploads to --service URLs with --copies, and reads back", async () => {
    const { startKeepServers } = await import("../_keep_servers.ts");
    const env = await startKeepServers(3);
    const dir = await tempDir();
    try {
      const data = randomBytes(700_000);
      const input = join(dir.path, "in.bin");
      await writeFile(input, data);
      const io = { ...memoryIO(), isTTY: true, env: {} };
      const args = ["put", input, "--block-size", "100K", "--copies", "2", "--json"];
      for (const url of env.urls) args.push("--service", url);
      expect(await main(args, io)).toBe(0);
      const manifest = Manifest.parse(io.out());
      expect(manifest.blocks().length).toBe(7);
      expect(env.servers.reduce((n, s) => n + s.store.bytes, 0)).toBe(2 * 700_000);
      const manifestFile = join(dir.path, "m.json");
      await writeFile(manifestFile, io.out());
      // STOWAGE_SERVICES stands in for --service.
      const get = { ...memoryIO(), env: { STOWAGE_SERVICES: env.urls.join(" ") } };
      expect(await main(["get", manifestFile], get)).toBe(0);
      expect(get.bytes()).toEqual(data);
    } finally {
      await env.close();
      await dir.cleanup();
    }
  });

  it("sends STOWAGE_TOKEN and fails with exit 1 when services refuse", async () => {
    const { startKeepServers } = await import("../_keep_servers.ts");
    const env = await startKeepServers(2, () => undefined, { tokens: ["right"] });
    try {
      const ok = {
        ...memoryIO(new TextEncoder().encode("hello")),
        env: { STOWAGE_TOKEN: "right" },
      };
      expect(await main(["put", "-", "--service", env.urls[0]!, "--service", env.urls[1]!], ok))
        .toBe(0);
      const bad = {
        ...memoryIO(new TextEncoder().encode("hello")),
        env: { STOWAGE_TOKEN: "wrong" },
      };
      expect(await main(["put", "-", "--service", env.urls[0]!, "--service", env.urls[1]!], bad))
        .toBe(1);
      expect(bad.err()).toMatch(/wanted 2 copies but 0 confirmed.*HTTP 403/);
    } finally {
      await env.close();
    }
  });
});

describe("stowage crawl", () => {
  it("counts, verifies (quarantining a damaged block) and expires, printing a summary", async () => {
    const dir = await tempDir();
    try {
      const store = join(dir.path, "store");
      for (let i = 0; i < 5; i++) {
        await main(["put", "-", "--dir", store], memoryIO(new TextEncoder().encode(`crawl ${i}`)));
      }
      const count = memoryIO();
      expect(await main(["crawl", "--task", "count", "--cpu", "1", "--dir", store], count)).toBe(0);
      expect(count.out()).toMatch(/^count: 5 blocks, 35 bytes/);
      const { FileStore } = await import("../../mod.ts");
      const fileStore = new FileStore(store);
      const first = (await fileStore.list()[Symbol.asyncIterator]().next()).value!;
      await writeFile(fileStore.pathOf(first.locator), "damaged");
      const verify = memoryIO();
      // Damage found: exit 1, as scrubbing tools do.
      expect(await main(["crawl", "--task", "verify", "--cpu", "1", "--dir", store], verify)).toBe(
        1,
      );
      expect(verify.out()).toMatch(/verify: 5 blocks seen, 1 corrupt, 1 quarantined/);
      const expire = memoryIO();
      expect(
        await main([
          "crawl",
          "--task",
          "expire",
          "--max-bytes",
          "14",
          "--min-age",
          "0",
          "--cpu",
          "1",
          "--dir",
          store,
        ], expire),
      )
        .toBe(0);
      expect(expire.out()).toMatch(/expire: 4 blocks seen \(28 bytes\), 2 expired \(14 bytes\)/);
      const bad = memoryIO();
      expect(await main(["crawl", "--task", "nope", "--dir", store], bad)).toBe(2);
      expect(await main(["crawl", "--task", "expire", "--dir", store], memoryIO())).toBe(2);
    } finally {
      await dir.cleanup();
    }
  });
});

describe("stowage cat", () => {
  it("streams an HTTP object by ranges, and a manifest's bytes, with --start/--end", async () => {
    const { startRangeServer } = await import("../_range_server.ts");
    const data = randomBytes(3_000_000);
    const server = await startRangeServer(data);
    const dir = await tempDir();
    try {
      const whole = memoryIO();
      expect(await main(["cat", server.url], whole)).toBe(0);
      expect(Buffer.from(whole.bytes()).equals(Buffer.from(data))).toBe(true);
      const part = memoryIO();
      expect(await main(["cat", server.url, "--start", "1000", "--end", "2500000"], part)).toBe(0);
      expect(Buffer.from(part.bytes()).equals(Buffer.from(data.subarray(1000, 2_500_000)))).toBe(
        true,
      );
      const store = join(dir.path, "store");
      const put = memoryIO(data);
      expect(await main(["put", "-", "--dir", store, "--block-size", "1M"], put)).toBe(0);
      const manifestFile = join(dir.path, "m.txt");
      await writeFile(manifestFile, put.out());
      const fromManifest = memoryIO();
      expect(
        await main(
          ["cat", manifestFile, "--dir", store, "--start", "999999", "--end", "1000001"],
          fromManifest,
        ),
      )
        .toBe(0);
      expect(
        Buffer.from(fromManifest.bytes()).equals(Buffer.from(data.subarray(999_999, 1_000_001))),
      ).toBe(true);
      expect(await main(["cat", server.url, "--start", "5", "--end", "4"], memoryIO())).toBe(2);
      // Fixed: never more requests at once than asked for (the HEAD is over first).
      const one = await startRangeServer(data);
      try {
        const fixed = memoryIO();
        expect(await main(["cat", one.url, "--fixed-requests", "--range-requests", "1"], fixed))
          .toBe(0);
        expect(Buffer.from(fixed.bytes()).equals(Buffer.from(data))).toBe(true);
        expect(one.peakOpen()).toBe(1);
      } finally {
        await one.close();
      }
    } finally {
      await server.close();
      await dir.cleanup();
    }
  });
});

describe("progress", () => {
  const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it("draws bytes, rate and ETA on a terminal, then clears its line", async () => {
    const { startProgress } = await import("../../cli/_progress.ts");
    const io = { ...memoryIO(), isTTY: true, stdoutIsTTY: true };
    const progress = startProgress(io, {}, { label: "put", total: 10 * 1024 * 1024 });
    progress.update(1024 * 1024);
    await wait(250);
    progress.update(3 * 1024 * 1024);
    await wait(250);
    progress.done();
    const err = io.err();
    expect(err).toMatch(
      /put +30\.0% \[=+ +\] 3\.0 MiB \/ 10\.0 MiB {2}[\d.]+ [KMG]iB\/s {2}ETA \d+:\d\d/,
    );
    expect(err.endsWith("\r\u001b[2K")).toBe(true);
  });

  it("prints one JSON line a second with --progress json, nothing with --quiet or off a terminal", async () => {
    const { startProgress } = await import("../../cli/_progress.ts");
    const json = memoryIO();
    const p = startProgress(json, { progress: "json" }, { label: "get", total: 100 });
    p.update(40);
    await wait(1100);
    p.done();
    const lines = json.err().trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.at(-1)).toMatchObject({ task: "get", done: 40, total: 100 });
    for (
      const [values, io] of [
        [{ quiet: true }, { ...memoryIO(), isTTY: true, stdoutIsTTY: true }],
        [{}, { ...memoryIO(), isTTY: true, stdoutIsTTY: false }],
      ] as const
    ) {
      const q = startProgress(io, values, { label: "put", total: 100 });
      q.update(50);
      await wait(250);
      q.done();
      expect(io.err()).toBe("");
    }
    expect(() => startProgress(memoryIO(), { progress: "loud" }, { label: "x" })).toThrow(
      /--progress must be/,
    );
  });
});

describe("the CLI, facing mistakes and trouble", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(() => dir.cleanup());

  /** The built CLI as a child process: `node bin/stowage.js`, or `deno run -A cli/main.ts`. */
  function cli(args: string[]): Promise<{ code: number | null; err: string; ms: number }> {
    const root = fileURLToPath(new URL("../..", import.meta.url));
    const command = runtime === "deno"
      ? ["run", "-A", join(root, "cli", "main.ts")]
      : [join(root, "bin", "stowage.js")];
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [...command, ...args], {
        cwd: dir.path,
        stdio: ["ignore", "ignore", "pipe"],
      });
      let err = "";
      child.stderr!.on("data", (c: Uint8Array) => (err += new TextDecoder().decode(c)));
      child.once("error", reject);
      child.once("close", (code) => resolve({ code, err, ms: performance.now() - started }));
    });
  }

  async function expectOneLine(args: string[], code: number, message: RegExp, maxMs = 5000) {
    const run = await cli(args);
    expect(run.code, run.err).toBe(code);
    expect(run.ms).toBeLessThan(maxMs + (runtime === "deno" ? 3000 : 1000)); // start-up included
    expect(run.err.split("\n")[0]!).toMatch(message);
    expect(run.err).not.toMatch(/\n\s+at /); // no stack trace
    return run.err;
  }

  it("fails at once, in one line, on a store folder that cannot be made or used", async () => {
    const input = join(dir.path, "in.txt");
    await writeFile(input, "hello");
    const file = join(dir.path, "regular");
    await writeFile(file, "");
    await expectOneLine(["put", input, "--dir", file], 1, /Cannot create the store folder.*EEXIST/);
    await expectOneLine(
      ["put", input, "--dir", join(file, "below")],
      1,
      /Cannot create the store folder.*ENOTDIR/,
    );
    if (existsSync("/proc/self")) {
      await expectOneLine(
        ["put", input, "--dir", "/proc/nope"],
        1,
        /Cannot create the store folder/,
      );
    }
  });

  it("refuses bad sizes, copies, service strings and manifests with a clear line", async () => {
    const input = join(dir.path, "in.txt");
    await writeFile(input, "hello");
    const s = ["--dir", join(dir.path, "s")];
    await expectOneLine(
      ["put", input, "--block-size", "100G", ...s],
      2,
      /--block-size '100G' is more than 64MiB/,
    );
    await expectOneLine(["put", input, "--block-size", "3G", ...s], 2, /more than 64MiB/);
    await expectOneLine(
      ["put", "-", "--block-size", "0", ...s],
      2,
      /--block-size '0' is out of range/,
    );
    await expectOneLine(
      ["put", input, "--service", "localhost:25201", ...s],
      2,
      /--service 'localhost:25201' is neither a URL .* nor an existing folder/,
    );
    expect(existsSync(join(dir.path, "localhost:25201"))).toBe(false);
    for (const d of ["a", "b", "c"]) await mkdir(join(dir.path, d));
    const three = ["a", "b", "c"].flatMap((d) => ["--service", join(dir.path, d)]);
    await expectOneLine(["put", input, ...three, "--copies", "4"], 2, /copies must be <= the 3/);
    await expectOneLine(
      ["put", join(dir.path, "nope.bin"), ...s],
      1,
      /cannot read '.*nope\.bin': no such file/,
    );
    const binary = join(dir.path, "bin.dat");
    await writeFile(binary, new Uint8Array([0, 1, 2, 200, 255, 7, 0]));
    await expectOneLine(
      ["get", binary, ...s],
      1,
      /'.*bin\.dat' is not a manifest: it is binary data/,
    );
    const empty = join(dir.path, "empty.manifest");
    await writeFile(empty, "");
    await expectOneLine(["get", empty, ...s], 1, /'.*empty\.manifest' is an empty manifest/);
    const one = join(dir.path, "one.manifest");
    await writeFile(one, ". acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:foo\n");
    await expectOneLine(
      ["get", one, "--file", "nope.bin", ...s],
      2,
      /--file 'nope\.bin' is not in the manifest/,
    );
  });

  it("names the URL and the cause when an HTTP object cannot be reached", async () => {
    // A port nothing listens on (fetch refuses some well-known ones outright).
    const { createServer } = await import("node:net");
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const url = `http://127.0.0.1:${port}/x`;
    const err = await expectOneLine(
      ["cat", url, "--dir", join(dir.path, "s")],
      1,
      /^stowage: Cannot learn the object's size: .*refused/i,
    );
    expect(err).toContain(`(service '${url}')`);
  });

  it("says what it retries, and gives up on a dead service within about ten seconds", async () => {
    const input = join(dir.path, "in.txt");
    await writeFile(input, "hello");
    const err = await expectOneLine(
      ["put", input, "--service", "http://127.0.0.1:9", "--copies", "1"],
      1,
      /^stowage: retrying put of block .* in \d\.\d s \(round 2 of 4\): .*ECONNREFUSED/,
      15_000,
    );
    expect(err.match(/retrying/g)?.length).toBe(3);
    expect(err.trim().split("\n").pop()).toMatch(/^stowage: Cannot store block/);
  });
});
