/**
 * `stowage put <file|->`: stores a file (or stdin) as blocks through the one
 * write path (`BlockClient.writable`), on the local store or replicated over
 * services, and prints its manifest.
 *
 * @module
 */
import { DEFAULT_BLOCK_SIZE } from "../lib/model/block_store.ts";
import type { FileStore } from "../lib/store/file_store.ts";
import { S3Store } from "../lib/store/s3_store.ts";
import { fs } from "../lib/platform/_fs.ts";
import { fileReadable } from "../lib/platform/_node_io.ts";
import type { WriteProgress } from "../lib/write/block_write_stream.ts";
import { type Command, flagValue, stringValue, UsageError } from "./_command.ts";
import {
  integer,
  makeClient,
  manifestName,
  parseSize,
  SERVICE_OPTIONS,
  writeText,
} from "./_shared.ts";
import { PROGRESS_OPTIONS, startProgress } from "./_progress.ts";

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
    "block-size": {
      type: "string",
      value: "SIZE",
      help: "bytes per block, e.g. 8M, 64MiB; at most 64MiB, Keep's limit (default 64MiB)",
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
    copies: {
      type: "string",
      value: "N",
      help: "replicas per block (default 2 with services, else 1)",
    },
    "create-bucket": {
      type: "boolean",
      help: "create the s3:// services' buckets first, when they do not exist yet",
    },
    "blocks-in-flight": {
      type: "string",
      value: "N",
      help: "blocks being stored at once (default 4 with services, else 3)",
    },
    ...PROGRESS_OPTIONS,
  },
  async run({ args, values, io, interrupted }) {
    if (args.length !== 1) {
      throw new UsageError("put needs one input: a file path, or - for stdin", put);
    }
    const input = args[0]!;
    const blockSizeText = stringValue(values, "block-size");
    const blockSize = blockSizeText === undefined
      ? DEFAULT_BLOCK_SIZE
      : parseSize(blockSizeText, "--block-size");
    if (blockSize > DEFAULT_BLOCK_SIZE) {
      throw new UsageError(
        `--block-size '${blockSizeText}' is more than 64MiB, the largest block Keep allows`,
        put,
      );
    }
    const chunking = stringValue(values, "chunking") ?? "fixed";
    if (chunking !== "fixed" && chunking !== "content") {
      throw new UsageError(`--chunking must be fixed or content, not '${chunking}'`, put);
    }
    const algorithm = stringValue(values, "algorithm") ?? "md5";
    if (algorithm !== "md5" && algorithm !== "sha256") {
      throw new UsageError(`--algorithm must be md5 or sha256, not '${algorithm}'`, put);
    }
    let total: number | undefined;
    if (input !== "-") {
      // Surface a missing file before any block is written.
      const info = await fs.stat(input);
      if (info.isDirectory()) throw new UsageError(`'${input}' is a folder, not a file`, put);
      total = info.size;
    }
    const progress = startProgress(io, values, { label: "put", total });
    let result;
    try {
      const copiesText = stringValue(values, "copies");
      const { client, remote } = makeClient(
        values,
        io,
        copiesText === undefined
          ? { algorithm, progress }
          : { algorithm, progress, copies: integer(copiesText, "--copies", 1, 100) },
      );
      // A local store that cannot be made fails now, with its own words,
      // before any byte is read.
      if (!remote) await (client.services[0] as FileStore).open();
      if (flagValue(values, "create-bucket")) {
        for (const service of client.services) {
          if (service instanceof S3Store) await service.createBucket({ signal: interrupted });
        }
      }
      // Into the local store, three blocks in flight let the hashing threads
      // hash two while one is written (memory: four blocks); remote services
      // gain from more parallel uploads.
      const inFlightText = stringValue(values, "blocks-in-flight");
      const blocksInFlight = inFlightText === undefined
        ? (remote ? 4 : 3)
        : integer(inFlightText, "--blocks-in-flight", 1, 64);
      const source = input === "-" ? io.stdin() : fileReadable(input);
      // The interrupt goes to the sink too: once the input has all been read,
      // a pipe's signal no longer reaches it, and close() waits for the last PUTs.
      const sink = client.writable({
        blockSize,
        blocksInFlight,
        name: manifestName(values, input),
        signal: interrupted,
        chunking,
      });
      sink.addEventListener(
        "progress",
        (e) => progress.update((e as CustomEvent<WriteProgress>).detail.bytesSent),
      );
      // Ctrl-C aborts the upload: requests in flight are cancelled, temp files removed.
      await source.pipeTo(sink, { signal: interrupted });
      result = await sink.result;
    } finally {
      progress.done();
    }
    const { manifest, bytes, bytesStored, chunks, chunksReused } = result;
    await writeText(
      io,
      flagValue(values, "json")
        ? `${
          JSON.stringify(
            {
              ...manifest.toJSON(),
              portableDataHash: manifest.portableDataHash(),
              stored: { bytes, bytesStored, chunks, chunksReused },
            },
            null,
            2,
          )
        }\n`
        : manifest.toText(),
    );
    return 0;
  },
};
