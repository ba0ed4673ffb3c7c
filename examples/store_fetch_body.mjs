/**
 * Stores a `fetch` Response body, then serves it back as a Response.
 *
 * A local HTTP server on 127.0.0.1 stands in for the download. Run:
 * `node examples/store_fetch_body.mjs` after `npm install`, or `deno run -A examples/store_fetch_body.mjs`.
 */
import { createServer } from "node:http";
import { BlockClient, MemoryStore } from "stowage";

const payload = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
const server = createServer((_req, res) => res.end(payload));
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const { port } = server.address();

try {
  const client = new BlockClient({ services: [new MemoryStore()] });
  const sink = client.writable({ blockSize: 1024 * 1024, name: "download.bin" });
  await (await fetch(`http://127.0.0.1:${port}/download`)).body.pipeTo(sink);
  const { manifest } = await sink.result;
  console.log(manifest.toText());

  // Serve it back: a ReadableStream is a valid Response body.
  const served = new Response(client.readable(manifest));
  const bytes = new Uint8Array(await served.arrayBuffer());
  if (bytes.length !== payload.length || bytes.some((b, i) => b !== payload[i])) {
    throw new Error("round trip failed");
  }
  console.log(`served back ${bytes.length} bytes, identical`);
} finally {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}
