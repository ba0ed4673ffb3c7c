/**
 * `stowage get <manifest|->`: writes the bytes of a manifest's file through
 * the one read path (`BlockClient.readable`: prefetch, verified blocks), or
 * every file of one of its folders (`--file dir/ -o DIR`). Files appear only
 * whole: each is written beside its name and renamed when complete.
 *
 * @module
 */
import { join } from "node:path";
import { fs } from "../lib/platform/_fs.ts";
import { fileWritable } from "../lib/platform/_node_io.ts";
import { type Command, stringValue, UsageError } from "./_command.ts";
import { chooseFile, makeClient, readManifest, SERVICE_OPTIONS } from "./_shared.ts";

/** See the module doc. */
export const get: Command = {
  name: "get",
  args: "<manifest|->",
  summary: "Write the bytes a manifest (Keep text or JSON) describes",
  options: {
    output: {
      type: "string",
      short: "o",
      value: "FILE",
      help: "write to FILE instead of stdout",
    },
    file: {
      type: "string",
      value: "NAME",
      help: "the file to write, when the manifest holds several",
    },
    ...SERVICE_OPTIONS,
  },
  async run({ args, values, io }) {
    if (args.length !== 1) {
      throw new UsageError("get needs one manifest: a file path, or - for stdin", get);
    }
    const manifest = await readManifest(args[0]!, io);
    const wanted = stringValue(values, "file");
    const output = stringValue(values, "output");
    if (wanted !== undefined && manifest.file(wanted) === undefined) {
      // A folder: its files (and empty folders) under the output folder.
      let folder;
      try {
        folder = manifest.subtree(wanted);
      } catch {
        throw new UsageError(`--file '${wanted}' is not in the manifest`, get);
      }
      if (output === undefined) {
        throw new UsageError(`--file '${wanted}' is a folder: give -o DIR to write its files`, get);
      }
      const { client } = makeClient(values, io, { cache: true });
      for (const dir of folder.directories) await fs.mkdir(join(output, dir), { recursive: true });
      for (const f of folder.files) {
        await client.readable(folder, { file: f.name }).pipeTo(fileWritable(join(output, f.name)));
      }
      return 0;
    }
    const file = chooseFile(manifest, values);
    const { client } = makeClient(values, io, { cache: true });
    const source = file === undefined
      ? new ReadableStream<Uint8Array>({ start: (c) => c.close() })
      : client.readable(manifest, { file });
    await source.pipeTo(output === undefined ? io.stdout() : fileWritable(output));
    return 0;
  },
};
