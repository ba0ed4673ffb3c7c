/**
 * `stowage put <file|->`: stores a file (or stdin) as blocks through the one
 * write path (`BlockClient.writable`), on the local store or replicated over
 * services, and prints its manifest.
 *
 * @module
 */
import { DEFAULT_BLOCK_SIZE } from "../lib/model/block_store.ts";
import { fs } from "../lib/platform/_fs.ts";
import { fileReadable } from "../lib/platform/_node_io.ts";
import type { WriteProgress } from "../lib/write/block_write_stream.ts";
import { type Command, flagValue, stringValue, UsageError } from "./_command.ts";
import {
  integer,
  makeClient,
  manifestName,
  parseSize,
  progressBar,
  SERVICE_OPTIONS,
  writeText,
} from "./_shared.ts";

/** See the module doc. */
export const put: Command = {
  name: "put",
  args: "<file|->",
  summary: "Store a file (or stdin) as blocks; print its manifest",
  options: {
    json: {
      type: "boolean",
      help: "print the manifest as JSON, with its portable data hash, instead of Keep text",
    },
    "block-size": {
      type: "string",
      value: "SIZE",
      help: "bytes per block, e.g. 8M, 64MiB (default 64MiB)",
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
    ...SERVICE_OPTIONS,
    copies: {
      type: "string",
      value: "N",
      help: "replicas per block (default 2 with services, else 1)",
    },
    "blocks-in-flight": {
      type: "string",
      value: "N",
      help: "blocks being stored at once (default 4 with services, else 1)",
    },
  },
  async run({ args, values, io }) {
    if (args.length !== 1) {
      throw new UsageError("put needs one input: a file path, or - for stdin", put);
    }
    const input = args[0]!;
    const blockSizeText = stringValue(values, "block-size");
    const blockSize = blockSizeText === undefined
      ? DEFAULT_BLOCK_SIZE
      : parseSize(blockSizeText, "--block-size");
    const algorithm = stringValue(values, "algorithm") ?? "md5";
    if (algorithm !== "md5" && algorithm !== "sha256") {
      throw new UsageError(`--algorithm must be md5 or sha256, not '${algorithm}'`, put);
    }
    const copiesText = stringValue(values, "copies");
    const { client, remote } = makeClient(
      values,
      io,
      copiesText === undefined
        ? { algorithm }
        : { algorithm, copies: integer(copiesText, "--copies", 1, 100) },
    );
    // One block at a time into the local store keeps memory at two blocks;
    // remote services gain from parallel uploads.
    const inFlightText = stringValue(values, "blocks-in-flight");
    const blocksInFlight = inFlightText === undefined
      ? (remote ? 4 : 1)
      : integer(inFlightText, "--blocks-in-flight", 1, 64);
    let total: number | undefined;
    if (input !== "-") {
      // Surface a missing file before any block is written.
      const info = await fs.stat(input);
      if (info.isDirectory()) throw new UsageError(`'${input}' is a folder, not a file`, put);
      total = info.size;
    }
    const source = input === "-" ? io.stdin() : fileReadable(input);
    const sink = client.writable({ blockSize, blocksInFlight, name: manifestName(values, input) });
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
      flagValue(values, "json")
        ? `${
          JSON.stringify(
            { ...manifest.toJSON(), portableDataHash: manifest.portableDataHash() },
            null,
            2,
          )
        }\n`
        : manifest.toText(),
    );
    return 0;
  },
};
