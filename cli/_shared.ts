/**
 * What several commands share: the store and client they work on, sizes and
 * integers from flags, manifests from files, text output, the progress bar.
 *
 * @module
 */
import { basename } from "node:path";
import { BlockClient, type BlockClientOptions } from "../lib/client/block_client.ts";
import type { BlockStore } from "../lib/model/block_store.ts";
import type { DigestAlgorithm } from "../lib/model/digest.ts";
import { Manifest } from "../lib/model/manifest.ts";
import { ManifestError } from "../lib/model/errors.ts";
import { fileReadable } from "../lib/platform/_node_io.ts";
import { defaultStoreDir, FileStore } from "../lib/store/file_store.ts";
import {
  type CliIO,
  listValue,
  type OptionTable,
  stringValue,
  UsageError,
  type Values,
} from "./_command.ts";

/** The options of commands that can work on block services instead of the local store. */
export const SERVICE_OPTIONS: OptionTable = {
  service: {
    type: "string",
    multiple: true,
    value: "URL",
    help: "a block service: http(s)://… or s3://bucket/prefix?endpoint=… " +
      "(default $STOWAGE_SERVICES, space-separated, else the local store)",
  },
  token: { type: "string", value: "T", help: "API token for services (default $STOWAGE_TOKEN)" },
};

/** The local store: `--dir`, else the default folder. */
export function localStore(values: Values): FileStore {
  return new FileStore(stringValue(values, "dir") ?? defaultStoreDir());
}

/** The services named by `--service` or `$STOWAGE_SERVICES`. */
export function serviceUrls(values: Values, io: CliIO): string[] {
  const given = listValue(values, "service");
  if (given.length > 0) return given;
  return io.env?.STOWAGE_SERVICES?.split(/\s+/).filter((s) => s !== "") ?? [];
}

/**
 * The client a command reads or writes through: the services given, else the
 * local store alone; `cache` for reads.
 *
 * @returns The client, and whether it talks to services.
 * @throws {UsageError} On a bad service string or copies.
 */
export function makeClient(
  values: Values,
  io: CliIO,
  options: { algorithm?: DigestAlgorithm; copies?: number; cache?: boolean } = {},
): { client: BlockClient; remote: boolean } {
  const services = serviceUrls(values, io);
  const token = stringValue(values, "token") ?? io.env?.STOWAGE_TOKEN;
  const clientOptions: BlockClientOptions = {
    services: services.length > 0 ? services : [localStore(values)],
    onWarning: (message) => io.stderr(`stowage: ${message}\n`),
  };
  // Writes touch each block once: a cache would only cost memory. Reads go
  // through it: it fetches whole blocks, verified, once for all the
  // prefetcher's parts of a block, and holds the blocks prefetched ahead.
  if (!options.cache) clientOptions.cache = false;
  if (options.algorithm !== undefined) clientOptions.algorithm = options.algorithm;
  if (options.copies !== undefined) clientOptions.copies = options.copies;
  if (token !== undefined) clientOptions.token = token;
  try {
    return { client: new BlockClient(clientOptions), remote: services.length > 0 };
  } catch (error) {
    if (error instanceof TypeError || error instanceof RangeError) {
      throw new UsageError(error.message);
    }
    throw error;
  }
}

/** The one store `ls` and `crawl` walk: the one `--service` given, else the local store. */
export function walkedStore(values: Values, io: CliIO, command: string): BlockStore {
  const services = listValue(values, "service");
  if (services.length === 0) return localStore(values);
  if (services.length > 1) throw new UsageError(`${command} takes one --service`);
  return makeClient(values, io).client.services[0]!;
}

/**
 * An integer flag's value.
 *
 * @throws {UsageError} When it is not an integer in [min, max].
 */
export function integer(text: string, flag: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`${flag} must be an integer from ${min} to ${max}, not '${text}'`);
  }
  return Number(text);
}

/**
 * Parses a size such as `1048576`, `64M`, `64MiB`, `8k` (binary multiples).
 *
 * @param text The size.
 * @param flag The flag it came from, for the message.
 * @returns Bytes.
 * @throws {UsageError} When it is not a positive size.
 */
export function parseSize(text: string, flag = "size"): number {
  const match = /^(\d+)\s*([kmgt]?)(i?b)?$/i.exec(text.trim());
  if (match === null) {
    throw new UsageError(`cannot read ${flag} '${text}': use e.g. 1048576, 8M or 64MiB`);
  }
  const power = " kmgt".indexOf(match[2]!.toLowerCase() || " ");
  const size = Number(match[1]) * 1024 ** power;
  if (!Number.isSafeInteger(size) || size <= 0) {
    throw new UsageError(`${flag} '${text}' is out of range`);
  }
  return size;
}

/** Reads a manifest (Keep text or JSON) from a file, or from stdin for `-`. */
export async function readManifest(path: string, io: CliIO): Promise<Manifest> {
  const text = path === "-" ? await new Response(io.stdin()).text() : await readText(path);
  try {
    return Manifest.parse(text);
  } catch (error) {
    if (error instanceof ManifestError) {
      const where = path === "-" ? "standard input" : `'${path}'`;
      throw new Error(`${where} is not a manifest: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

/** The one file of a manifest a command reads: `--file`, else the only one. */
export function chooseFile(manifest: Manifest, values: Values): string | undefined {
  const file = stringValue(values, "file");
  if (file === undefined && manifest.files.length > 1) {
    throw new UsageError(
      `the manifest holds ${manifest.files.length} files; choose one with --file NAME`,
    );
  }
  if (file === undefined) return manifest.files[0]?.name;
  const found = manifest.file(file);
  if (found === undefined) throw new UsageError(`--file '${file}' is not in the manifest`);
  return found.name;
}

/** A file's text. */
export async function readText(path: string): Promise<string> {
  return await new Response(fileReadable(path)).text();
}

/** Writes text to standard output and closes it. */
export async function writeText(io: CliIO, text: string): Promise<void> {
  const writer = io.stdout().getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
}

/** The name a file gets in a manifest: `--name`, else its base name (`stdin` for `-`). */
export function manifestName(values: Values, input: string): string {
  return stringValue(values, "name") ?? (input === "-" ? "stdin" : basename(input));
}

/** A one-line progress bar on standard error, redrawn at most 10 times a second. */
export function progressBar(
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
