/**
 * `stowage ls`: lists the blocks of the local store, or of one block service
 * or bucket, as `<locator> <mtime ISO>` lines or JSON lines.
 *
 * @module
 */
import { type Command, flagValue, stringValue, UsageError } from "./_command.ts";
import { SERVICE_OPTIONS, walkedStore } from "./_shared.ts";

/** See the module doc. */
export const ls: Command = {
  name: "ls",
  args: "",
  summary: "List stored blocks: <locator> <mtime ISO>",
  options: {
    prefix: { type: "string", value: "HEX", help: "only blocks whose digest starts with HEX" },
    json: { type: "boolean", help: "one JSON object per line" },
    ...SERVICE_OPTIONS,
  },
  async run({ args, values, io }) {
    if (args.length > 0) throw new UsageError("ls takes no arguments", ls);
    const prefix = stringValue(values, "prefix");
    if (prefix !== undefined && !/^[0-9a-f]*$/.test(prefix)) {
      throw new UsageError(`--prefix must be lowercase hex, not '${prefix}'`, ls);
    }
    const store = walkedStore(values, io, "ls");
    const out = io.stdout().getWriter();
    const encoder = new TextEncoder();
    try {
      for await (const info of store.list(prefix === undefined ? {} : { prefix })) {
        const line = flagValue(values, "json")
          ? JSON.stringify({ ...info, mtime: new Date(info.mtime).toISOString() })
          : `${info.locator} ${new Date(info.mtime).toISOString()}`;
        await out.write(encoder.encode(`${line}\n`));
      }
      await out.close();
    } catch (error) {
      await out.abort(error).catch(() => {});
      throw error;
    }
    return 0;
  },
};
