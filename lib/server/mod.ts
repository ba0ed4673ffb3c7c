/**
 * `stowage/server`: the Keep-compatible block server. {@linkcode createBlockHandler}
 * is the protocol as a fetch handler `(Request) => Promise<Response>`;
 * {@linkcode serve} runs a handler on `node:http` (in Node and Deno alike);
 * {@linkcode signLocator} and {@linkcode verifyLocatorSignature} are Keep's
 * permission signatures.
 *
 * @example A block server over a memory store, on a free port
 * ```ts
 * import { MemoryStore } from "stowage";
 * import { createBlockHandler, serve } from "stowage/server";
 * import assert from "node:assert/strict";
 *
 * const server = await serve(createBlockHandler({ store: new MemoryStore() }), { port: 0 });
 * const put = await fetch(new URL("acbd18db4cc2f85cedef654fccc4a4d8", server.url), {
 *   method: "PUT",
 *   body: "foo",
 * });
 * assert.equal(put.status, 200);
 * assert.match(await put.text(), /^acbd18db4cc2f85cedef654fccc4a4d8\+3/);
 * await server.close();
 * ```
 *
 * @module
 */
export {
  type BlockHandlerOptions,
  createBlockHandler,
  type RequestLogEntry,
} from "./block_handler.ts";
export { serve, type ServeOptions, type Server } from "./serve.ts";
export {
  type SignatureCheck,
  type SignatureOptions,
  signLocator,
  verifyLocatorSignature,
} from "../model/permission.ts";
