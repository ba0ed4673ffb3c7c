/**
 * Stowage stores byte streams as content-addressed blocks and streams them
 * back, on Web Streams, in Deno and Node alike.
 *
 * @example Round trip through the embedded file store
 * ```ts ignore
 * import { FileStore, getStream, putStream } from "stowage";
 *
 * const store = new FileStore("/tmp/stowage-demo");
 * const { manifest } = await putStream(store, ReadableStream.from([new TextEncoder().encode("hello")]));
 * console.log(await new Response(getStream(store, manifest)).text()); // hello
 * ```
 *
 * @module
 */
export * from "./lib/errors.ts";
export * from "./lib/digest.ts";
export * from "./lib/locator.ts";
export * from "./lib/fixed_chunk_stream.ts";
export * from "./lib/block_hash_stream.ts";
export * from "./lib/manifest.ts";
export * from "./lib/block_store.ts";
export * from "./lib/memory_store.ts";
export * from "./lib/file_store.ts";
export * from "./lib/put_stream.ts";
export * from "./lib/get_stream.ts";
export * from "./lib/permission.ts";
export * from "./lib/block_handler.ts";
export * from "./lib/serve.ts";
export * from "./lib/retry.ts";
export * from "./lib/rendezvous.ts";
export * from "./lib/keep_service.ts";
export * from "./lib/s3_store.ts";
export * from "./lib/block_client.ts";
export * from "./lib/block_write_stream.ts";
export * from "./lib/crawler.ts";
export * from "./lib/crawler_tasks.ts";
export * from "./lib/range_source.ts";
export * from "./lib/http_source.ts";
export * from "./lib/open_reader.ts";
export * from "./lib/open_readable.ts";
export * from "./lib/block_cache.ts";
