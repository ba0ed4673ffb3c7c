/**
 * `stowage fetch <url>`: stores a URL's body once (`BlockClient.stage`) and
 * records it under the URL in the key index; prints its manifest. Run again,
 * it asks the origin whether the object changed and moves no body if not; an
 * interrupted fetch resumes where it stopped.
 *
 * @module
 */
import type { FileStore } from "../lib/store/file_store.ts";
import { type Command, flagValue, listValue, stringValue, UsageError } from "./_command.ts";
import {
  blocksInFlightOf,
  blockSizeOf,
  makeClient,
  SERVICE_OPTIONS,
  WRITE_OPTIONS,
  writeManifest,
} from "./_shared.ts";
import { PROGRESS_OPTIONS, type ProgressSubject, startProgress } from "./_progress.ts";

/** See the module doc. */
export const fetchCommand: Command = {
  name: "fetch",
  args: "<url>",
  summary: "Store a URL's body once, record it under the URL, print its manifest",
  interrupts: true,
  options: {
    json: {
      type: "boolean",
      help: "print the manifest as JSON with the key's entry and what moved",
    },
    offline: {
      type: "boolean",
      help: "answer from the key index alone, without asking the origin",
    },
    refresh: { type: "boolean", help: "fetch the whole object again, whatever is recorded" },
    header: {
      type: "string",
      multiple: true,
      value: "'NAME: VALUE'",
      help: "a request header, e.g. 'Authorization: Bearer …' (never recorded)",
    },
    netrc: {
      type: "string",
      value: "FILE",
      help: "credentials per host from this netrc file (default $NETRC, else ~/.netrc)",
    },
    "no-netrc": { type: "boolean", help: "read no netrc file" },
    name: {
      type: "string",
      value: "NAME",
      help: "file name in the manifest (default: the URL's last path segment)",
    },
    ...SERVICE_OPTIONS,
    ...WRITE_OPTIONS,
    ...PROGRESS_OPTIONS,
  },
  async run({ args, values, io, interrupted }) {
    if (args.length !== 1) throw new UsageError("fetch needs one URL", fetchCommand);
    const url = args[0]!;
    if (!/^https?:\/\//i.test(url)) {
      throw new UsageError("fetch needs an http:// or https:// URL", fetchCommand);
    }
    if (flagValue(values, "offline") && flagValue(values, "refresh")) {
      throw new UsageError(
        "--offline and --refresh contradict each other: choose one",
        fetchCommand,
      );
    }
    const blockSize = blockSizeOf(values);
    const headers: Record<string, string> = {};
    for (const header of listValue(values, "header")) {
      const at = header.indexOf(":");
      if (at <= 0) {
        // The value may be a secret: never echo it.
        throw new UsageError("--header must be 'NAME: VALUE'", fetchCommand);
      }
      headers[header.slice(0, at).trim().toLowerCase()] = header.slice(at + 1).trim();
    }
    const netrcFile = stringValue(values, "netrc");
    const netrc = flagValue(values, "no-netrc") ? false : netrcFile ?? true;
    const subject: ProgressSubject = { label: "fetch" };
    const progress = startProgress(io, values, subject);
    let result;
    try {
      const { client, remote } = makeClient(values, io, { progress });
      if (!remote) await (client.services[0] as FileStore).open();
      result = await client.stage(url, {
        headers,
        signal: interrupted,
        refresh: flagValue(values, "refresh"),
        offline: flagValue(values, "offline"),
        netrc,
        blockSize,
        blocksInFlight: blocksInFlightOf(values, remote),
        ...(stringValue(values, "name") === undefined
          ? {}
          : { name: stringValue(values, "name")! }),
        onProgress: (p) => {
          subject.total = p.bytesTotal;
          progress.update(p.bytesStored);
        },
        onWarning: (message) => progress.note(`stowage: ${message}`),
      });
    } finally {
      progress.done();
    }
    const { manifest, entry, fetched, reused, resumed, restarts } = result;
    const { manifest: _text, ...key } = entry;
    await writeManifest(io, values, manifest, { key, fetched, reused, resumed, restarts });
    return 0;
  },
};
