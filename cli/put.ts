/**
 * `stowage put <file|->`: stores a file (or stdin) as blocks through the one
 * write path (`BlockWriteStream`), on the local store or replicated over
 * services, and prints its manifest.
 *
 * A file put with fixed chunking keeps a resume record in the key index
 * (key `put:<absolute path>`, with the file's size and mtime, as arv-put
 * does): each block is recorded once stored, so a put killed half-way and run
 * again sends only the blocks not stored yet. Content-chunked puts resume
 * through their chunk index instead; stdin has no record, but
 * `--skip-existing` asks the services before sending each block.
 *
 * @module
 */
import { resolve } from "node:path";
import type { BlockClient } from "../lib/client/block_client.ts";
import type { StoredPiece } from "../lib/model/key_index.ts";
import { locatorOf } from "../lib/model/locator.ts";
import type { Manifest } from "../lib/model/manifest.ts";
import { FixedChunkStream } from "../lib/write/fixed_chunk_stream.ts";
import { manifestOfPieces, writeRanges } from "../lib/write/_range_writer.ts";
import type { FileStore } from "../lib/store/file_store.ts";
import { S3Store } from "../lib/store/s3_store.ts";
import { fs } from "../lib/platform/_fs.ts";
import { fileReadable } from "../lib/platform/_node_io.ts";
import type { WriteProgress } from "../lib/write/block_write_stream.ts";
import { type Command, flagValue, stringValue, UsageError } from "./_command.ts";
import {
  blocksInFlightOf,
  blockSizeOf,
  makeClient,
  manifestName,
  SERVICE_OPTIONS,
  WRITE_OPTIONS,
  writeManifest,
  writeText,
} from "./_shared.ts";
import { type Progress, PROGRESS_OPTIONS, startProgress } from "./_progress.ts";

/** See the module doc. */
export const put: Command = {
  name: "put",
  args: "<file|->",
  summary: "Store a file (or stdin) as blocks; print its manifest",
  interrupts: true,
  options: {
    json: {
      type: "boolean",
      help: "print the manifest as JSON, with its portable data hash, instead of Keep text",
    },
    algorithm: {
      type: "string",
      value: "md5|sha256",
      help: "block digest algorithm (default md5)",
    },
    name: {
      type: "string",
      value: "NAME",
      help: "file name in the manifest (default: the file's)",
    },
    chunking: {
      type: "string",
      value: "fixed|content",
      help:
        "fixed: blocks of --block-size, as arv-put cuts them (default); content: content-defined chunks, each stored once, packed into blocks",
    },
    ...SERVICE_OPTIONS,
    ...WRITE_OPTIONS,
    "create-bucket": {
      type: "boolean",
      help: "create the s3:// services' buckets first, when they do not exist yet",
    },
    "no-resume": {
      type: "boolean",
      help: "neither resume an earlier put of this file nor record this one to resume",
    },
    "skip-existing": {
      type: "boolean",
      help: "ask the services (HEAD) before sending each block; send only those they lack",
    },
    "dry-run": {
      type: "boolean",
      help: "send nothing: say how many blocks would be sent, and exit 2 if any",
    },
    ...PROGRESS_OPTIONS,
  },
  async run({ args, values, io, interrupted }) {
    if (args.length !== 1) {
      throw new UsageError("put needs one input: a file path, or - for stdin", put);
    }
    const input = args[0]!;
    const blockSize = blockSizeOf(values);
    const chunking = stringValue(values, "chunking") ?? "fixed";
    if (chunking !== "fixed" && chunking !== "content") {
      throw new UsageError(`--chunking must be fixed or content, not '${chunking}'`, put);
    }
    const algorithm = stringValue(values, "algorithm") ?? "md5";
    if (algorithm !== "md5" && algorithm !== "sha256") {
      throw new UsageError(`--algorithm must be md5 or sha256, not '${algorithm}'`, put);
    }
    // Surface a missing file before any block is written.
    const info = input === "-" ? undefined : await fs.stat(input);
    if (info?.isDirectory()) throw new UsageError(`'${input}' is a folder, not a file`, put);
    const total = info?.size;
    const dryRun = flagValue(values, "dry-run");
    if (dryRun && chunking === "content") {
      throw new UsageError(
        "--dry-run counts fixed blocks: it cannot be used with --chunking content",
        put,
      );
    }
    const progress = startProgress(io, values, { label: dryRun ? "put --dry-run" : "put", total });
    let result;
    try {
      const { client, remote } = makeClient(values, io, { algorithm, progress });
      // A local store that cannot be made fails now, with its own words,
      // before any byte is read.
      if (!remote) await (client.services[0] as FileStore).open();
      if (flagValue(values, "create-bucket")) {
        for (const service of client.services) {
          if (service instanceof S3Store) await service.createBucket({ signal: interrupted });
        }
      }
      const blocksInFlight = blocksInFlightOf(values, remote);
      const source = (): ReadableStream<Uint8Array> =>
        input === "-" ? io.stdin() : fileReadable(input);
      if (dryRun) {
        const missing = await countMissing(client, source(), blockSize, interrupted, progress);
        progress.done();
        await writeText(
          io,
          `${missing.blocks} of ${missing.total} blocks (${missing.bytes} of ${missing.totalBytes} bytes) would be sent\n`,
        );
        return missing.blocks > 0 ? 2 : 0;
      }
      const name = manifestName(values, input);
      const skipExisting = flagValue(values, "skip-existing");
      if (info !== undefined && chunking === "fixed" && !flagValue(values, "no-resume")) {
        result = await resumablePut(client, {
          path: input,
          size: info.size,
          mtime: Math.trunc(info.mtimeMs),
          name,
          blockSize,
          blocksInFlight,
          skipExisting,
          signal: interrupted,
          onSent: (bytes) => progress.update(bytes),
          onNote: (line) => progress.note(line),
          onResume: (bytes) =>
            progress.note(
              `stowage: resuming an earlier put of '${input}': ${bytes} bytes stored already`,
            ),
        });
      } else {
        // The interrupt goes to the sink too: once the input has all been read,
        // a pipe's signal no longer reaches it, and close() waits for the last PUTs.
        const sink = client.writable({
          blockSize,
          blocksInFlight,
          name,
          signal: interrupted,
          chunking,
          skipExisting,
        });
        sink.addEventListener(
          "progress",
          (e) => progress.update((e as CustomEvent<WriteProgress>).detail.bytesSent),
        );
        // Ctrl-C aborts the upload: requests in flight are cancelled, temp files removed.
        await source().pipeTo(sink, { signal: interrupted });
        result = await sink.result;
      }
    } finally {
      progress.done();
    }
    const { manifest, bytes, bytesStored, chunks, chunksReused } = result;
    await writeManifest(io, values, manifest, {
      stored: { bytes, bytesStored, chunks, chunksReused },
    });
    return 0;
  },
};

/** What a put stored: the manifest and its figures. */
interface PutOutcome {
  manifest: Manifest;
  bytes: number;
  bytesStored: number;
  chunks: number;
  chunksReused: number;
}

/**
 * Puts a file range by range, recording each stored block under
 * `put:<absolute path>` so that a rerun after a kill sends only what is
 * missing; the record goes once the put is done.
 */
async function resumablePut(
  client: BlockClient,
  options: {
    path: string;
    /** The file's size and mtime (ms) when the put began: the resume record's key. */
    size: number;
    mtime: number;
    name: string;
    blockSize: number;
    blocksInFlight: number;
    skipExisting: boolean;
    signal: AbortSignal;
    onSent: (bytes: number) => void;
    onResume: (bytes: number) => void;
    onNote: (line: string) => void;
  },
): Promise<PutOutcome> {
  const { size, mtime } = options;
  const index = client.keyIndex;
  const key = `put:${resolve(options.path)}`;
  const entry = index === undefined ? undefined : await index.get(key).catch(() => undefined);
  const previous = entry?.partial;
  // Pieces of this very file, named and replicated as this put would.
  const resumable = previous !== undefined && previous.validators.contentLength === size &&
    previous.validators.mtime === mtime && previous.algorithm === client.algorithm &&
    previous.copies >= client.copies;
  const pieces: StoredPiece[] = resumable ? previous.pieces.slice() : [];
  const resumed = pieces.reduce((n, p) => n + p.size, 0);
  if (resumed > 0) options.onResume(resumed);
  const started = Date.now();
  let unrecordable = false;
  let sent = resumed;
  let stored = 0;
  await writeRanges({
    putter: client,
    size: () => size,
    pieces,
    open: (start, end) =>
      Promise.resolve(fileReadable(options.path, end === undefined ? { start } : { start, end })),
    record: async (now) => {
      if (index === undefined || unrecordable) return;
      await index.set({
        key,
        manifest: "",
        size: 0,
        algorithm: client.algorithm,
        created: started,
        fetched: 0,
        accessed: Date.now(),
        partial: {
          pieces: [...now],
          validators: { contentLength: size, mtime },
          blockSize: options.blockSize,
          algorithm: client.algorithm,
          copies: client.copies,
          started,
        },
      }).catch((error: unknown) => {
        // The put goes on: only a rerun after a kill would miss the record.
        unrecordable = true;
        options.onNote(
          `stowage: cannot keep a resume record for '${options.path}' (${
            error instanceof Error ? error.message : String(error)
          }); the put goes on without one`,
        );
      });
    },
    blockSize: options.blockSize,
    blocksInFlight: options.blocksInFlight,
    skipExisting: options.skipExisting,
    signal: options.signal,
    onSent: (bytes) => {
      sent += bytes;
      stored += bytes;
      options.onSent(sent);
    },
  });
  // Done: the record has nothing left to resume.
  await index?.delete(key).catch(() => false);
  const manifest = manifestOfPieces(options.name, pieces);
  return {
    manifest,
    bytes: size,
    bytesStored: stored,
    chunks: pieces.length,
    chunksReused: resumable ? previous.pieces.length : 0,
  };
}

/** Counts the blocks of a stream the services lack (at the client's copies). */
async function countMissing(
  client: BlockClient,
  source: ReadableStream<Uint8Array>,
  blockSize: number,
  signal: AbortSignal,
  progress: Progress,
): Promise<{ blocks: number; bytes: number; total: number; totalBytes: number }> {
  const counts = { blocks: 0, bytes: 0, total: 0, totalBytes: 0 };
  const blocks = source.pipeThrough(new FixedChunkStream(blockSize), { signal });
  for await (const block of blocks) {
    counts.total++;
    counts.totalBytes += block.length;
    const locator = locatorOf(block, client.algorithm);
    if ((await client.replicas(locator, { signal, enough: client.copies })) < client.copies) {
      counts.blocks++;
      counts.bytes += block.length;
    }
    progress.update(counts.totalBytes);
  }
  return counts;
}
