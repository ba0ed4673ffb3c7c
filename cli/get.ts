/**
 * `stowage get <manifest|->`: writes the bytes of a manifest's file through
 * the one read path (`BlockClient.readable`: prefetch, verified blocks).
 *
 * @module
 */
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
    const file = chooseFile(manifest, values);
    const { client } = makeClient(values, io, { cache: true });
    const source = file === undefined
      ? new ReadableStream<Uint8Array>({ start: (c) => c.close() })
      : client.readable(manifest, { file });
    const output = stringValue(values, "output");
    await source.pipeTo(output === undefined ? io.stdout() : fileWritable(output));
    return 0;
  },
};
