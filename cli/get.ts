/**
 * `stowage get <manifest|->`: writes the bytes of a manifest's file through
 * the one read path (`BlockClient.readable`: prefetch, verified blocks), or
 * every file of one of its folders (`--file dir/ -o DIR`). Files appear only
 * whole: each is written beside its name and renamed when complete; an error
 * or Ctrl-C leaves nothing behind.
 *
 * @module
 */
import { join } from "node:path";
import type { BlockClient } from "../lib/client/block_client.ts";
import type { Manifest } from "../lib/model/manifest.ts";
import { makeDirectory } from "../lib/platform/_fs.ts";
import { fileWritable } from "../lib/platform/_node_io.ts";
import { type CliIO, type Command, stringValue, UsageError, type Values } from "./_command.ts";
import { counting, OUTPUT_OPTIONS, PROGRESS_OPTIONS, startProgress } from "./_progress.ts";
import { chooseFile, makeClient, readManifest, SERVICE_OPTIONS } from "./_shared.ts";

/** See the module doc. */
export const get: Command = {
  name: "get",
  args: "<manifest|->",
  summary: "Write the bytes a manifest (Keep text or JSON) describes",
  interrupts: true,
  options: {
    ...OUTPUT_OPTIONS,
    file: {
      type: "string",
      value: "PATH",
      help: "the file to write when the manifest holds several; a folder (dir/) writes " +
        "its files under -o DIR",
    },
    ...SERVICE_OPTIONS,
    ...PROGRESS_OPTIONS,
  },
  async run({ args, values, io, interrupted }) {
    if (args.length !== 1) {
      throw new UsageError("get needs one manifest: a file path, or - for stdin", get);
    }
    const manifest = await readManifest(args[0]!, io);
    const wanted = stringValue(values, "file");
    const output = stringValue(values, "output");
    if (wanted !== undefined && manifest.file(wanted) === undefined) {
      return await getFolder(manifest, wanted, output, values, io, interrupted);
    }
    const file = chooseFile(manifest, values)!;
    const size = manifest.file(file)!.size;
    // A bar only when the bytes go to a file: on a terminal they are the output.
    const progress = output === undefined
      ? startProgress(io, { quiet: true }, { label: "get" })
      : startProgress(io, values, { label: "get", total: size });
    try {
      const { client } = makeClient(values, io, { cache: true, progress });
      await client.readable(manifest, { file }).pipeThrough(counting(progress)).pipeTo(
        output === undefined ? io.stdout() : fileWritable(output),
        { signal: interrupted },
      );
    } finally {
      progress.done();
    }
    return 0;
  },
};

/** Writes every file (and empty folder) of a manifest's folder under `output`. */
async function getFolder(
  manifest: Manifest,
  wanted: string,
  output: string | undefined,
  values: Values,
  io: CliIO,
  interrupted: AbortSignal,
): Promise<number> {
  let folder: Manifest;
  try {
    folder = manifest.subtree(wanted);
  } catch {
    throw new UsageError(`--file '${wanted}' is not in the manifest`, get);
  }
  if (output === undefined) {
    throw new UsageError(`--file '${wanted}' is a folder: give -o DIR to write its files`, get);
  }
  const progress = startProgress(io, values, { label: "get", total: folder.size });
  try {
    const { client }: { client: BlockClient } = makeClient(values, io, { cache: true, progress });
    for (const dir of folder.directories) await makeDirectory(join(output, dir));
    let done = 0;
    for (const f of folder.files) {
      const count = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          progress.update(done += chunk.length);
          controller.enqueue(chunk);
        },
      });
      await client.readable(folder, { file: f.name }).pipeThrough(count)
        .pipeTo(fileWritable(join(output, f.name)), { signal: interrupted });
    }
  } finally {
    progress.done();
  }
  return 0;
}
