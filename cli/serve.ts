/**
 * `stowage serve`: the local store as a Keep-compatible block server, with
 * tokens, permission signatures, and an optional background scrub. Ends
 * gracefully on SIGINT/SIGTERM, finishing the requests in flight.
 *
 * @module
 */
import { join } from "node:path";
import { Crawler, type CrawlerTask } from "../lib/crawl/crawler.ts";
import { verifyTask } from "../lib/crawl/crawler_tasks.ts";
import { type BlockHandlerOptions, createBlockHandler } from "../lib/server/block_handler.ts";
import { serve as serveHandler, type ServeOptions } from "../lib/server/serve.ts";
import { type Command, flagValue, listValue, stringValue, UsageError } from "./_command.ts";
import { integer, localStore, parseSize, readText, writeText } from "./_shared.ts";

/** See the module doc. */
export const serve: Command = {
  name: "serve",
  args: "",
  summary: "Serve the local store as a Keep-compatible block service",
  interrupts: true,
  options: {
    port: { type: "string", value: "P", help: "port (default 25107; 0 picks a free one)" },
    host: { type: "string", value: "H", help: "address to listen on (default 127.0.0.1)" },
    token: {
      type: "string",
      multiple: true,
      value: "T",
      help: "token allowed to write (default: anyone)",
    },
    "admin-token": { type: "string", value: "T", help: "token for /index and DELETE" },
    "signing-key-file": {
      type: "string",
      value: "F",
      help: "sign locators and require signatures on reads",
    },
    "signature-ttl": {
      type: "string",
      value: "S",
      help: "signature lifetime in seconds (default 1209600)",
    },
    "read-only": { type: "boolean", help: "refuse writes" },
    "max-put-memory": {
      type: "string",
      value: "SIZE",
      help: "memory the uploads in flight may hold; more wait, then get 503 (default 256MiB)",
    },
    "put-queue-timeout": {
      type: "string",
      value: "S",
      help: "seconds an upload waits for memory before the 503 (default 10)",
    },
    "max-queued-puts": {
      type: "string",
      value: "N",
      help: "uploads that may wait for that memory; more get 503 at once (default 64)",
    },
    "body-idle-timeout": {
      type: "string",
      value: "S",
      help: "seconds a request body may send nothing before it is refused (default 30)",
    },
    "headers-timeout": {
      type: "string",
      value: "S",
      help: "seconds a client may take to send its request headers (default 30)",
    },
    "idle-timeout": {
      type: "string",
      value: "S",
      help: "seconds a keep-alive connection may sit idle between requests (default 5)",
    },
    crawl: { type: "string", value: "verify", help: "scrub the store in the background" },
  },
  async run({ args, values, io, interrupted }) {
    if (args.length > 0) throw new UsageError("serve takes no arguments", serve);
    const store = localStore(values);
    const port = integer(stringValue(values, "port") ?? "25107", "--port", 0, 65535);
    const options: BlockHandlerOptions = {
      store,
      tokens: listValue(values, "token"),
      readOnly: flagValue(values, "read-only"),
      log: (entry) => io.stderr(`${JSON.stringify(entry)}\n`),
    };
    const adminToken = stringValue(values, "admin-token");
    if (adminToken !== undefined) options.adminToken = adminToken;
    const keyFile = stringValue(values, "signing-key-file");
    if (keyFile !== undefined) {
      options.signingKey = (await readText(keyFile)).trim();
      if (options.signingKey.length === 0) {
        throw new UsageError(`the signing key file '${keyFile}' is empty`, serve);
      }
    }
    const memory = stringValue(values, "max-put-memory");
    if (memory !== undefined) options.maxPutMemory = parseSize(memory, "--max-put-memory");
    const queue = stringValue(values, "put-queue-timeout");
    if (queue !== undefined) {
      options.putQueueTimeout = integer(queue, "--put-queue-timeout", 0, 3600) * 1000;
    }
    const queued = stringValue(values, "max-queued-puts");
    if (queued !== undefined) {
      options.maxQueuedPuts = integer(queued, "--max-queued-puts", 0, 100_000);
    }
    const idle = stringValue(values, "body-idle-timeout");
    if (idle !== undefined) {
      options.bodyIdleTimeout = integer(idle, "--body-idle-timeout", 1, 3600) * 1000;
    }
    const ttl = stringValue(values, "signature-ttl");
    if (ttl !== undefined) options.signatureTtl = integer(ttl, "--signature-ttl", 1, 2 ** 31);
    const crawl = stringValue(values, "crawl");
    if (crawl !== undefined && crawl !== "verify") {
      throw new UsageError(`serve --crawl takes 'verify', not '${crawl}'`, serve);
    }
    await store.open();
    const crawler = crawl === undefined ? undefined : new Crawler(
      store,
      verifyTask() as CrawlerTask<unknown>,
      { statePath: join(store.root, ".crawl-verify.json"), slowStart: 300_000 },
    );
    const serveOptions: ServeOptions = {
      port,
      hostname: stringValue(values, "host") ?? "127.0.0.1",
    };
    const headersTimeout = stringValue(values, "headers-timeout");
    if (headersTimeout !== undefined) {
      serveOptions.headersTimeout = integer(headersTimeout, "--headers-timeout", 1, 3600) * 1000;
    }
    const idleTimeout = stringValue(values, "idle-timeout");
    if (idleTimeout !== undefined) {
      serveOptions.idleTimeout = integer(idleTimeout, "--idle-timeout", 1, 3600) * 1000;
    }
    const server = await serveHandler(createBlockHandler(options), serveOptions);
    const closed = new Promise<void>((resolve) => {
      const onInterrupt = (): void => {
        io.stderr("stowage: shutting down (finishing requests in flight)\n");
        server.close().then(resolve, resolve);
      };
      if (interrupted.aborted) onInterrupt();
      else interrupted.addEventListener("abort", onInterrupt, { once: true });
    });
    await writeText(io, `stowage: serving ${store.root} on ${server.url}\n`);
    crawler?.start();
    await closed;
    await crawler?.stop();
    return 0;
  },
};
