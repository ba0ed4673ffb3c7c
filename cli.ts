/**
 * The `stowage` command line: `put`, `get`, `ls`.
 *
 * Runs under Node (`npx stowage …`, built into `dist/cli.js`) and Deno
 * (`deno run -A cli.ts …`). Bad arguments print usage and exit 2; storage
 * errors print the typed error's message and exit 1.
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { fileReadable, fileWritable, stdinReadable, stdoutWritable } from "./lib/_node_io.ts";
import { defaultStoreDir, FileStore } from "./lib/file_store.ts";
import { getStream } from "./lib/get_stream.ts";
import { Manifest } from "./lib/manifest.ts";
import { type BlockStore, DEFAULT_BLOCK_SIZE } from "./lib/block_store.ts";
import { BlockClient, type BlockClientOptions } from "./lib/block_client.ts";
import type { WriteProgress } from "./lib/block_write_stream.ts";
import { StowageError } from "./lib/errors.ts";
import { fs } from "./lib/_fs.ts";
import { basename, join } from "node:path";
import type { DigestAlgorithm } from "./lib/digest.ts";
import { type BlockHandlerOptions, createBlockHandler } from "./lib/block_handler.ts";
import { serve } from "./lib/serve.ts";
import { manifestSource, type RangeSource } from "./lib/range_source.ts";
import { httpSource } from "./lib/http_source.ts";
import { openReadable } from "./lib/open_readable.ts";
import { Crawler, type CrawlerTask } from "./lib/crawler.ts";
import {
  countBlocks,
  type CountState,
  expireBlocks,
  type ExpireState,
  verifyBlocks,
  type VerifyState,
} from "./lib/crawler_tasks.ts";

const VERSION = "0.1.0";

const USAGE = `Usage: stowage <command> [options]

Commands:
  put <file|->              Store a file (or stdin) as blocks; print its manifest
      --json                  print the manifest as JSON instead of Keep text
      --block-size SIZE       bytes per block, e.g. 8M, 64MiB (default 64MiB)
      --digest md5|sha256     block digest (default md5)
      --name NAME             file name in the manifest (default: the file's name)
      --service URL           a block service (repeatable; default $STOWAGE_SERVICES,
                              space-separated, else the local store)
      --copies N              replicas per block (default 2 with services, else 1)
      --concurrency N         blocks uploading at once (default 4 with services, else 1)
      --token T               API token for services (default $STOWAGE_TOKEN)
  get <manifest|->          Write the bytes a manifest (Keep text or JSON) describes
      -o, --output FILE       write to FILE instead of stdout
      --file NAME             the file to write, when the manifest holds several
      --service URL, --token T  read from block services instead of the local store
  cat <url|manifest|->      Stream an HTTP object (by ranges, prefetching) or a manifest's bytes
      --start N, --end N      only bytes [N, M)
      --file NAME             the file, when the manifest holds several
      --concurrency N         range requests in flight (default 4)
  ls                        List stored blocks: <locator> <mtime ISO>
      --prefix HEX            only blocks whose digest starts with HEX
      --json                  one JSON object per line
      --service URL           list a block service or bucket (http(s)://, s3://) instead
  crawl                     Walk the store once: count, verify (scrub) or expire blocks
      --task count|verify|expire
      --cpu F                 share of time spent working, 0-1 (default 0.1)
      --continuous            keep cycling (every 5 minutes at most) until stopped
      --max-bytes SIZE        expire: the store's byte budget
      --min-age MINUTES       expire: never remove a block read this recently (default 10)
      --quarantine DIR        verify: where corrupt blocks go (default <dir>/quarantine)
      --state FILE            where progress is saved (default <dir>/.crawl-<task>.json)
      --service URL           walk a block service or bucket (http(s)://, s3://) instead
  serve                     Serve the store as a Keep-compatible block service
      --port P                port (default 25107; 0 picks a free one)
      --host H                address to listen on (default 127.0.0.1)
      --token T               token allowed to write (repeatable; default: anyone)
      --admin-token T         token for /index and DELETE
      --signing-key-file F    sign locators and require signatures on reads
      --signature-ttl S       signature lifetime in seconds (default 1209600)
      --read-only             refuse writes
      --crawl verify          scrub the store in the background while serving

Options for every command:
  --dir DIR                 block store folder (default $STOWAGE_DIR, else
                            $XDG_DATA_HOME/stowage, else ~/.local/share/stowage)
  -h, --help                show this help
  --version                 show the version
`;

/** Where the CLI writes; injectable so tests can run it in-process. */
export interface CliIO {
  /** Standard input. */
  stdin: () => ReadableStream<Uint8Array>;
  /** Standard output. */
  stdout: () => WritableStream<Uint8Array>;
  /** Standard error, as text. */
  stderr: (text: string) => void;
  /** Environment variables. */
  env?: Record<string, string | undefined>;
  /** Whether standard error is a terminal (progress bars). */
  isTTY?: boolean;
}

const defaultIO: CliIO = {
  stdin: stdinReadable,
  stdout: stdoutWritable,
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  isTTY: process.stderr.isTTY === true,
};

class UsageError extends Error {}

/**
 * Runs the CLI.
 *
 * @param args Arguments after the program name.
 * @param io Standard streams.
 * @returns The exit code: 0 success, 1 storage failure, 2 bad arguments.
 */
export async function main(args: string[], io: CliIO = defaultIO): Promise<number> {
  try {
    return await run(args, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`stowage: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    // The reader went away (`stowage get m | head`): not our failure.
    if ((error as { code?: unknown })?.code === "EPIPE") return 0;
    if (error instanceof StowageError || isFsError(error)) {
      io.stderr(`stowage: ${(error as Error).message}\n`);
      return 1;
    }
    io.stderr(
      `stowage: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`,
    );
    return 1;
  }
}

async function run(args: string[], io: CliIO): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        dir: { type: "string" },
        json: { type: "boolean" },
        "block-size": { type: "string" },
        digest: { type: "string" },
        name: { type: "string" },
        output: { type: "string", short: "o" },
        file: { type: "string" },
        prefix: { type: "string" },
        port: { type: "string" },
        start: { type: "string" },
        end: { type: "string" },
        service: { type: "string", multiple: true },
        copies: { type: "string" },
        concurrency: { type: "string" },
        host: { type: "string" },
        token: { type: "string", multiple: true },
        "admin-token": { type: "string" },
        "signing-key-file": { type: "string" },
        "signature-ttl": { type: "string" },
        "read-only": { type: "boolean" },
        task: { type: "string" },
        cpu: { type: "string" },
        continuous: { type: "boolean" },
        "max-bytes": { type: "string" },
        "min-age": { type: "string" },
        quarantine: { type: "string" },
        state: { type: "string" },
        crawl: { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean" },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.version) {
    await writeText(io, `stowage ${VERSION}\n`);
    return 0;
  }
  const [command, ...rest] = positionals;
  if (values.help || command === "help") {
    await writeText(io, USAGE);
    return 0;
  }
  const store = new FileStore(values.dir ?? defaultStoreDir());
  switch (command) {
    case "put": {
      const input = one(rest, "put needs one input: a file path, or - for stdin");
      const blockSize = values["block-size"] === undefined
        ? DEFAULT_BLOCK_SIZE
        : parseSize(values["block-size"]);
      const digest = values.digest ?? "md5";
      if (digest !== "md5" && digest !== "sha256") {
        throw new UsageError(`--digest must be md5 or sha256, not '${digest}'`);
      }
      const { client, remote } = makeClient(store, values, io, digest);
      const copies = values.copies === undefined
        ? (remote ? 2 : 1)
        : integer(values.copies, "--copies", 1, 100);
      // One block at a time into the local store keeps memory at two blocks;
      // remote services gain from parallel uploads.
      const concurrency = values.concurrency === undefined
        ? (remote ? 4 : 1)
        : integer(values.concurrency, "--concurrency", 1, 64);
      const total = input === "-" ? undefined : (await fs.stat(input)).size;
      const source = input === "-" ? io.stdin() : await openInput(input);
      const sink = client.writable({
        blockSize,
        copies,
        concurrency,
        name: values.name ?? (input === "-" ? "stdin" : basename(input)),
      });
      const bar = io.isTTY ? progressBar(io, total) : undefined;
      if (bar) {
        sink.addEventListener(
          "progress",
          (e) => bar.update((e as CustomEvent<WriteProgress>).detail.bytesUploaded),
        );
      }
      try {
        await source.pipeTo(sink);
      } finally {
        bar?.done();
      }
      const { manifest } = await sink.result;
      await writeText(
        io,
        values.json ? `${JSON.stringify(manifest, null, 2)}\n` : manifest.toText(),
      );
      return 0;
    }
    case "get": {
      const input = one(rest, "get needs one manifest: a file path, or - for stdin");
      const text = input === "-" ? await new Response(io.stdin()).text() : await readText(input);
      const manifest = Manifest.parse(text);
      let file = values.file;
      if (file === undefined && manifest.files.length > 1) {
        throw new UsageError(
          `the manifest holds ${manifest.files.length} files; choose one with --file NAME`,
        );
      }
      file ??= manifest.files[0]?.name;
      const { client } = makeClient(store, values, io, "md5");
      const source = file === undefined
        ? new ReadableStream<Uint8Array>({ start: (c) => c.close() })
        : getStream(client, manifest, { file });
      const sink = values.output === undefined ? io.stdout() : fileWritable(values.output);
      await source.pipeTo(sink);
      return 0;
    }
    case "cat": {
      const input = one(
        rest,
        "cat needs one input: an http(s) URL, a manifest file, or - for stdin",
      );
      let source: RangeSource;
      if (/^https?:\/\//i.test(input)) {
        const token = values.token?.[0] ?? io.env?.STOWAGE_TOKEN;
        source = await httpSource(
          input,
          token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } },
        );
      } else {
        const text = input === "-" ? await new Response(io.stdin()).text() : await readText(input);
        const manifest = Manifest.parse(text);
        if (values.file === undefined && manifest.files.length > 1) {
          throw new UsageError(
            `the manifest holds ${manifest.files.length} files; choose one with --file NAME`,
          );
        }
        const { client } = makeClient(store, values, io, "md5");
        source = manifestSource(
          client,
          manifest,
          values.file === undefined ? {} : { file: values.file },
        );
      }
      const start = values.start === undefined
        ? 0
        : integer(values.start, "--start", 0, Number.MAX_SAFE_INTEGER);
      const end = values.end === undefined
        ? source.size
        : integer(values.end, "--end", 0, Number.MAX_SAFE_INTEGER);
      if (start > end || end > source.size) {
        throw new UsageError(
          `--start ${start} and --end ${end} must satisfy start <= end <= ${source.size}`,
        );
      }
      const concurrency = values.concurrency === undefined
        ? 4
        : integer(values.concurrency, "--concurrency", 1, 64);
      await openReadable(source, { start, end, concurrency }).pipeTo(io.stdout());
      return 0;
    }
    case "ls": {
      if (rest.length > 0) throw new UsageError("ls takes no arguments");
      const out = io.stdout().getWriter();
      const encoder = new TextEncoder();
      try {
        const options = values.prefix === undefined ? {} : { prefix: values.prefix };
        for await (const info of walkedStore(store, values, io, "ls").list(options)) {
          const line = values.json
            ? JSON.stringify({ ...info, mtime: new Date(info.mtime).toISOString() })
            : `${info.locator} ${new Date(info.mtime).toISOString()}`;
          await out.write(encoder.encode(`${line}\n`));
        }
        await out.close();
      } catch (error) {
        await out.abort(error).catch(() => {});
        if (error instanceof TypeError) throw new UsageError(error.message);
        throw error;
      }
      return 0;
    }
    case "serve": {
      if (rest.length > 0) throw new UsageError("serve takes no arguments");
      return await serveCommand(store, values, io);
    }
    case "crawl": {
      if (rest.length > 0) throw new UsageError("crawl takes no arguments");
      return await crawlCommand(store, walkedStore(store, values, io, "crawl"), values, io);
    }
    case undefined:
      throw new UsageError("no command given");
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

async function serveCommand(
  store: FileStore,
  values: {
    port?: string | undefined;
    host?: string | undefined;
    token?: string[] | undefined;
    "admin-token"?: string | undefined;
    "signing-key-file"?: string | undefined;
    "signature-ttl"?: string | undefined;
    "read-only"?: boolean | undefined;
    crawl?: string | undefined;
  },
  io: CliIO,
): Promise<number> {
  const port = integer(values.port ?? "25107", "--port", 0, 65535);
  const options: BlockHandlerOptions = {
    store,
    tokens: values.token ?? [],
    readOnly: values["read-only"] ?? false,
    log: (entry) => io.stderr(`${JSON.stringify(entry)}\n`),
  };
  if (values["admin-token"] !== undefined) options.adminToken = values["admin-token"];
  if (values["signing-key-file"] !== undefined) {
    options.signingKey = (await readText(values["signing-key-file"])).trim();
    if (options.signingKey.length === 0) {
      throw new UsageError(`the signing key file '${values["signing-key-file"]}' is empty`);
    }
  }
  if (values["signature-ttl"] !== undefined) {
    options.signatureTtl = integer(values["signature-ttl"], "--signature-ttl", 1, 2 ** 31);
  }
  await store.open();
  let crawler: Crawler<unknown> | undefined;
  if (values.crawl !== undefined) {
    if (values.crawl !== "verify") {
      throw new UsageError(`serve --crawl takes 'verify', not '${values.crawl}'`);
    }
    crawler = new Crawler(store, verifyBlocks() as CrawlerTask<unknown>, {
      statePath: join(store.root, ".crawl-verify.json"),
      slowStart: 300_000,
    });
  }
  const stop = new AbortController();
  const server = await serve(createBlockHandler(options), {
    port,
    hostname: values.host ?? "127.0.0.1",
    signal: stop.signal,
  });
  const { promise, resolve } = deferred();
  const onSignal = (): void => {
    io.stderr("stowage: shutting down (finishing requests in flight)\n");
    server.close().then(resolve, resolve);
  };
  // Listen for signals before announcing the URL, so a supervisor that stops
  // the server right after it starts still gets a graceful shutdown.
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  await writeText(io, `stowage: serving ${store.root} on ${server.url}\n`);
  crawler?.start();
  await promise;
  await crawler?.stop();
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  return 0;
}

/** The store ls and crawl walk: the one --service given, else the local store. */
function walkedStore(
  store: FileStore,
  values: { service?: string[] | undefined; token?: string[] | undefined },
  io: CliIO,
  command: string,
): BlockStore {
  if ((values.service?.length ?? 0) === 0) return store;
  if (values.service!.length > 1) throw new UsageError(`${command} takes one --service`);
  return makeClient(store, values, io, "md5").client.services[0]!;
}

async function crawlCommand(
  store: FileStore,
  target: BlockStore,
  values: {
    task?: string | undefined;
    cpu?: string | undefined;
    continuous?: boolean | undefined;
    "max-bytes"?: string | undefined;
    "min-age"?: string | undefined;
    quarantine?: string | undefined;
    state?: string | undefined;
  },
  io: CliIO,
): Promise<number> {
  const name = values.task;
  let task: CrawlerTask<unknown>;
  if (name === "count") task = countBlocks() as CrawlerTask<unknown>;
  else if (name === "verify") {
    task = verifyBlocks(
      values.quarantine === undefined ? {} : { quarantineDir: values.quarantine },
    ) as CrawlerTask<unknown>;
  } else if (name === "expire") {
    if (values["max-bytes"] === undefined) throw new UsageError("--task expire needs --max-bytes");
    const minAge = values["min-age"] === undefined
      ? 10
      : integer(values["min-age"], "--min-age", 0, 10_000_000);
    task = expireBlocks({
      maxBytes: parseSize(values["max-bytes"]),
      minAge: minAge * 60_000,
    }) as CrawlerTask<unknown>;
  } else {
    throw new UsageError("crawl needs --task count, verify or expire");
  }
  const cpu = values.cpu === undefined ? 0.1 : Number(values.cpu);
  if (!(cpu > 0 && cpu <= 1)) {
    throw new UsageError(`--cpu must be a number in (0, 1], not '${values.cpu}'`);
  }
  if (target === store) await store.open();
  const stop = new AbortController();
  const onSignal = (): void => stop.abort(new Error("interrupted"));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const crawler = new Crawler(target, task, {
    statePath: values.state ??
      join(
        store.root,
        target === store
          ? `.crawl-${name}.json`
          : `.crawl-${name}-${target.id.replace(/[^A-Za-z0-9.-]+/g, "_")}.json`,
      ),
    allowedCpuFraction: cpu,
    signal: stop.signal,
    onSlice: (p) => {
      if (io.isTTY) io.stderr(`\r${name}: cycle ${p.cyclesFinished} ${p.percentDone.toFixed(1)}% `);
    },
  });
  try {
    if (values.continuous) {
      crawler.start();
      await crawler.stopped;
    } else {
      await crawler.runCycle();
    }
  } catch (error) {
    if (!stop.signal.aborted) throw error;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await crawler.save();
  }
  if (io.isTTY) io.stderr("\n");
  await writeText(io, `${summarise(name, crawler.state.task)}\n`);
  return 0;
}

function summarise(task: string, state: unknown): string {
  if (task === "count") {
    const s = state as CountState;
    return `count: ${s.lastTotal ?? 0} blocks, ${s.lastBytes ?? 0} bytes`;
  }
  if (task === "verify") {
    const s = state as VerifyState;
    const quarantined = s.corrupt.filter((c) => c.quarantined !== null).length;
    return `verify: ${
      s.lastChecked ?? s.checked
    } blocks seen, ${s.corrupt.length} corrupt, ${quarantined} quarantined` +
      s.corrupt.map((c) => `\n  corrupt ${c.locator} -> ${c.quarantined ?? "(left in place)"}`)
        .join("");
  }
  const s = state as ExpireState;
  const last = s.last;
  if (last === null) return "expire: no cycle finished";
  return `expire: ${last.blocks} blocks seen (${last.bytes} bytes), ${last.expired.length} expired (${
    last.expired.reduce((n, e) => n + e.size, 0)
  } bytes), ${last.keptRecent} kept as recently read`;
}

/** The client for put and get: --service (or $STOWAGE_SERVICES), else the local store. */
function makeClient(
  store: FileStore,
  values: { service?: string[] | undefined; token?: string[] | undefined },
  io: CliIO,
  digest: DigestAlgorithm,
  cache = false,
): { client: BlockClient; remote: boolean } {
  const env = io.env ?? {};
  const services = values.service ?? env.STOWAGE_SERVICES?.split(/\s+/).filter((s) => s !== "") ??
    [];
  const token = values.token?.[0] ?? env.STOWAGE_TOKEN;
  const options: BlockClientOptions = {
    services: services.length > 0 ? services : [store],
    digest,
    onWarning: (message) => io.stderr(`stowage: ${message}\n`),
  };
  // put and get touch each block once: a cache would only cost memory.
  if (!cache) options.cache = false;
  if (token !== undefined) options.token = token;
  try {
    return { client: new BlockClient(options), remote: services.length > 0 };
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(error.message);
    throw error;
  }
}

/** A one-line progress bar on standard error, redrawn at most 10 times a second. */
function progressBar(
  io: CliIO,
  total: number | undefined,
): { update: (bytes: number) => void; done: () => void } {
  const started = performance.now();
  let last = 0;
  let bytes = 0;
  const draw = (): void => {
    const seconds = (performance.now() - started) / 1000;
    const rate = seconds > 0 ? bytes / seconds : 0;
    const width = 30;
    let line: string;
    if (total !== undefined && total > 0) {
      const fraction = Math.min(1, bytes / total);
      const filled = Math.round(fraction * width);
      line = `${(fraction * 100).toFixed(1).padStart(5)}% [${"=".repeat(filled)}${
        " ".repeat(width - filled)
      }] ${formatBytes(bytes)} / ${formatBytes(total)}`;
    } else {
      line = `${formatBytes(bytes)}`;
    }
    io.stderr(`\r${line}  ${formatBytes(rate)}/s `);
  };
  return {
    update(value) {
      bytes = value;
      const now = performance.now();
      if (now - last >= 100) {
        last = now;
        draw();
      }
    },
    done() {
      draw();
      io.stderr("\n");
    },
  };
}

function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function integer(text: string, flag: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`${flag} must be an integer from ${min} to ${max}, not '${text}'`);
  }
  return Number(text);
}

function one(rest: string[], message: string): string {
  if (rest.length !== 1) throw new UsageError(message);
  return rest[0]!;
}

/**
 * Parses a size such as `1048576`, `64M`, `64MiB`, `8k` (binary multiples).
 *
 * @param text The size.
 * @returns Bytes.
 */
export function parseSize(text: string): number {
  const match = /^(\d+)\s*([kmgt]?)(i?b)?$/i.exec(text.trim());
  if (match === null) {
    throw new UsageError(`cannot read size '${text}': use e.g. 1048576, 8M or 64MiB`);
  }
  const power = " kmgt".indexOf(match[2]!.toLowerCase() || " ");
  const size = Number(match[1]) * 1024 ** power;
  if (!Number.isSafeInteger(size) || size <= 0) {
    throw new UsageError(`size '${text}' is out of range`);
  }
  return size;
}

async function openInput(path: string): Promise<ReadableStream<Uint8Array>> {
  // Surface a missing file before any block is written.
  const info = await fs.stat(path);
  if (info.isDirectory()) throw new UsageError(`'${path}' is a folder, not a file`);
  return fileReadable(path);
}

async function readText(path: string): Promise<string> {
  return await new Response(fileReadable(path)).text();
}

async function writeText(io: CliIO, text: string): Promise<void> {
  const writer = io.stdout().getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
}

function isFsError(error: unknown): boolean {
  return error instanceof Error && typeof (error as { code?: unknown }).code === "string";
}

// `deno run cli.ts` (and Node >= 24 running dist/cli.js) sets import.meta.main;
// the npm bin script imports main() instead.
if ((import.meta as ImportMeta & { main?: boolean }).main) {
  process.exitCode = await main(process.argv.slice(2));
}
