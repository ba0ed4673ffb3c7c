/**
 * What several commands share: the store and client they work on, sizes and
 * integers from flags, manifests from files, text output, the progress bar.
 *
 * @module
 */
import { statSync } from "node:fs";
import { basename } from "node:path";
import { BlockClient, type BlockClientOptions } from "../lib/client/block_client.ts";
import { type BlockStore, DEFAULT_BLOCK_SIZE } from "../lib/model/block_store.ts";
import type { DigestAlgorithm } from "../lib/model/digest.ts";
import { Manifest } from "../lib/model/manifest.ts";
import { ManifestError } from "../lib/model/errors.ts";
import { fileReadable } from "../lib/platform/_node_io.ts";
import { defaultStoreDir, FileStore } from "../lib/store/file_store.ts";
import type { Progress } from "./_progress.ts";
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

/** The options of commands that store blocks (`put`, `fetch`). */
export const WRITE_OPTIONS: OptionTable = {
  "block-size": {
    type: "string",
    value: "SIZE",
    help: "bytes per block, e.g. 8M, 64MiB; at most 64MiB, Keep's limit (default 64MiB)",
  },
  copies: {
    type: "string",
    value: "N",
    help: "replicas per block (default 2 with services, else 1)",
  },
  "blocks-in-flight": {
    type: "string",
    value: "N",
    help: "blocks being stored at once (default 4 with services, else 3)",
  },
};

/**
 * `--block-size`, checked: at most 64 MiB.
 *
 * @throws {UsageError} On a bad size.
 */
export function blockSizeOf(values: Values): number {
  const text = stringValue(values, "block-size");
  if (text === undefined) return DEFAULT_BLOCK_SIZE;
  const size = parseSize(text, "--block-size");
  if (size > DEFAULT_BLOCK_SIZE) {
    throw new UsageError(
      `--block-size '${text}' is more than 64MiB, the largest block Keep allows`,
    );
  }
  return size;
}

/**
 * `--blocks-in-flight`: into the local store, three let the hashing threads
 * hash two blocks while one is written (memory: four blocks); remote
 * services gain from more parallel uploads.
 */
export function blocksInFlightOf(values: Values, remote: boolean): number {
  const text = stringValue(values, "blocks-in-flight");
  return text === undefined ? (remote ? 4 : 3) : integer(text, "--blocks-in-flight", 1, 64);
}

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
  options: { algorithm?: DigestAlgorithm; cache?: boolean; progress?: Progress } = {},
): { client: BlockClient; remote: boolean } {
  const services = serviceUrls(values, io);
  for (const service of services) checkServiceString(service);
  const notify = (line: string): void =>
    options.progress ? options.progress.note(line) : io.stderr(`${line}\n`);
  const token = stringValue(values, "token") ?? io.env?.STOWAGE_TOKEN;
  const clientOptions: BlockClientOptions = {
    services: services.length > 0 ? services : [localStore(values)],
    onWarning: (message) => io.stderr(`stowage: ${message}\n`),
  };
  if (values.quiet !== true) {
    clientOptions.onRetry = (e) =>
      notify(
        `stowage: retrying ${e.operation} of block ${e.locator} in ${
          (e.delay / 1000).toFixed(1)
        } s (round ${e.round} of ${e.rounds}): ${
          e.services.map((s) => `${s.service}: ${s.error ?? `HTTP ${s.status}`}`).join("; ")
        }`,
      );
  }
  // Writes touch each block once: a cache would only cost memory. Reads go
  // through it: it fetches whole blocks, verified, once for all the
  // prefetcher's parts of a block, and holds the blocks prefetched ahead.
  if (!options.cache) clientOptions.cache = false;
  if (options.algorithm !== undefined) clientOptions.algorithm = options.algorithm;
  // `--copies`, for the commands that store blocks.
  const copies = stringValue(values, "copies");
  if (copies !== undefined) clientOptions.copies = integer(copies, "--copies", 1, 100);
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

/**
 * A service string must be a URL, or a folder that exists: `localhost:25201`
 * would otherwise become a folder of that name.
 *
 * @throws {UsageError} Otherwise.
 */
export function checkServiceString(service: string): void {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(service)) return;
  let folder = false;
  try {
    folder = statSync(service).isDirectory();
  } catch {
    // Missing: said below.
  }
  if (!folder) {
    throw new UsageError(
      `--service '${service}' is neither a URL (http://, https://, s3://) nor an existing folder`,
    );
  }
}

/** The one store `ls` and `crawl` walk: the one `--service` given, else the local store. */
export function walkedStore(values: Values, io: CliIO, command: string): BlockStore {
  const services = listValue(values, "service");
  if (services.length === 0) return localStore(values);
  if (services.length > 1) throw new UsageError(`${command} takes one --service`);
  checkServiceString(services[0]!);
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
 * @param min The smallest size allowed. @default {1}
 * @returns Bytes.
 * @throws {UsageError} When it is not a size of at least `min`.
 */
export function parseSize(text: string, flag = "size", min = 1): number {
  const match = /^(\d+)\s*([kmgt]?)(i?b)?$/i.exec(text.trim());
  if (match === null) {
    throw new UsageError(`cannot read ${flag} '${text}': use e.g. 1048576, 8M or 64MiB`);
  }
  const power = " kmgt".indexOf(match[2]!.toLowerCase() || " ");
  const size = Number(match[1]) * 1024 ** power;
  if (!Number.isSafeInteger(size) || size < min) {
    throw new UsageError(`${flag} '${text}' is out of range`);
  }
  return size;
}

/**
 * Reads a manifest (Keep text or JSON) from a file, or from stdin for `-`.
 *
 * @throws {Error} Naming the file when it is not a manifest (binary data
 *   is said to be binary, never printed) or holds no file.
 */
export async function readManifest(path: string, io: CliIO): Promise<Manifest> {
  const where = path === "-" ? "standard input" : `'${path}'`;
  const bytes = new Uint8Array(
    await (path === "-" ? new Response(io.stdin()) : new Response(fileReadable(path)))
      .arrayBuffer(),
  );
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`${where} is not a manifest: it is binary data, not text`);
  }
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x08\x0e-\x1f]/.test(text.slice(0, 4096))) {
    throw new Error(`${where} is not a manifest: it is binary data, not text`);
  }
  let manifest: Manifest;
  try {
    manifest = Manifest.parse(text);
  } catch (error) {
    if (error instanceof ManifestError) {
      throw new Error(`${where} is not a manifest: ${error.message}`, { cause: error });
    }
    throw error;
  }
  if (manifest.files.length === 0) {
    throw new Error(`${where} is an empty manifest: no file to read`);
  }
  return manifest;
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

/**
 * Prints a manifest: Keep text, or with `--json` its JSON form, its portable
 * data hash and `extra` fields.
 */
export async function writeManifest(
  io: CliIO,
  values: Values,
  manifest: Manifest,
  extra: Record<string, unknown>,
): Promise<void> {
  if (values.json !== true) return await writeText(io, manifest.toText());
  const json = { ...manifest.toJSON(), portableDataHash: manifest.portableDataHash(), ...extra };
  await writeText(io, `${JSON.stringify(json, null, 2)}\n`);
}

/** The name a file gets in a manifest: `--name`, else its base name (`stdin` for `-`). */
export function manifestName(values: Values, input: string): string {
  return stringValue(values, "name") ?? (input === "-" ? "stdin" : basename(input));
}
