/**
 * `stowage cat <url|manifest|->`: streams an HTTP object (by Range requests,
 * prefetching) or a manifest's bytes (the one read path, with block prefetch
 * and the cache) to stdout, optionally only bytes [start, end).
 *
 * @module
 */
import { fileWritable } from "../lib/platform/_node_io.ts";
import { httpSource } from "../lib/read/http_source.ts";
import { openReadable } from "../lib/read/open_readable.ts";
import { type Command, stringValue, UsageError } from "./_command.ts";
import { counting, OUTPUT_OPTIONS, PROGRESS_OPTIONS, startProgress } from "./_progress.ts";
import { chooseFile, integer, makeClient, readManifest, SERVICE_OPTIONS } from "./_shared.ts";

/** See the module doc. */
export const cat: Command = {
  name: "cat",
  args: "<url|manifest|->",
  summary: "Stream an HTTP object (by ranges, prefetching) or a manifest's bytes",
  interrupts: true,
  options: {
    ...OUTPUT_OPTIONS,
    start: { type: "string", value: "N", help: "first byte (default 0)" },
    end: { type: "string", value: "N", help: "one past the last byte (default the size)" },
    file: { type: "string", value: "NAME", help: "the file, when the manifest holds several" },
    "range-requests": {
      type: "string",
      value: "N",
      help: "range requests (or block reads) in flight at most; the number used is " +
        "learnt from the goodput measured (default 32)",
    },
    "fixed-requests": {
      type: "boolean",
      help: "send exactly --range-requests at once (default 4) instead of adapting",
    },
    ...SERVICE_OPTIONS,
    ...PROGRESS_OPTIONS,
  },
  async run({ args, values, io, interrupted }) {
    if (args.length !== 1) {
      throw new UsageError(
        "cat needs one input: an http(s) URL, a manifest file, or - for stdin",
        cat,
      );
    }
    const input = args[0]!;
    const startText = stringValue(values, "start");
    const endText = stringValue(values, "end");
    const start = startText === undefined
      ? 0
      : integer(startText, "--start", 0, Number.MAX_SAFE_INTEGER);
    const requestsText = stringValue(values, "range-requests");
    const adaptive = values["fixed-requests"] !== true;
    const maxRangeRequests = requestsText === undefined
      ? (adaptive ? 32 : 4)
      : integer(requestsText, "--range-requests", 1, 64);
    let length = 0;
    const view = (size: number): { start: number; end: number } => {
      const end = endText === undefined
        ? size
        : integer(endText, "--end", 0, Number.MAX_SAFE_INTEGER);
      if (start > end || end > size) {
        throw new UsageError(
          `--start ${start} and --end ${end} must satisfy start <= end <= ${size}`,
        );
      }
      length = end - start;
      return { start, end };
    };
    let body: ReadableStream<Uint8Array>;
    if (/^https?:\/\//i.test(input)) {
      const token = stringValue(values, "token") ?? io.env?.STOWAGE_TOKEN;
      const source = await httpSource(
        input,
        token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } },
      );
      body = openReadable(source, { ...view(source.size), maxRangeRequests, adaptive });
    } else {
      const manifest = await readManifest(input, io);
      const file = chooseFile(manifest, values);
      const size = manifest.files.find((f) => f.name === file)?.size ?? 0;
      const { client } = makeClient(values, io, { cache: true });
      body = client.readable(manifest, {
        ...(file === undefined ? {} : { file }),
        ...view(size),
        maxRangeRequests,
        adaptive,
      });
    }
    const output = stringValue(values, "output");
    const progress = output === undefined
      ? startProgress(io, { quiet: true }, { label: "cat" })
      : startProgress(io, values, { label: "cat", total: length });
    try {
      await body.pipeThrough(counting(progress)).pipeTo(
        output === undefined ? io.stdout() : fileWritable(output),
        { signal: interrupted },
      );
    } finally {
      progress.done();
    }
    return 0;
  },
};
