/**
 * Stages a URL into a file store: the first stage stores it, the second asks
 * the origin whether it changed (a 304: no body moves), and a third, after
 * the object changed, stores the new version. The key index lives in the
 * store's `keys/` folder, so another process would find it too.
 *
 * A local HTTP server on 127.0.0.1 stands in for the origin. Run:
 * `node examples/stage_url.mjs` after `npm install`, or `deno run -A examples/stage_url.mjs`.
 */
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BlockClient, FileStore } from "stowage";

let body = new TextEncoder().encode("version 1 of the data\n".repeat(50_000));
const etag = () => `"${createHash("md5").update(body).digest("hex")}"`;
const server = createServer((req, res) => {
  if (req.headers["if-none-match"] === etag()) return res.writeHead(304).end();
  res.writeHead(200, { etag: etag(), "content-length": body.length }).end(body);
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const url = `http://127.0.0.1:${server.address().port}/data.txt`;
const dir = await mkdtemp(join(tmpdir(), "stowage-stage-"));

try {
  const client = new BlockClient({ services: [new FileStore(dir)] });
  const first = await client.stage(url, { blockSize: 256 * 1024 });
  console.log(`first stage: ${first.fetched} bytes fetched`);
  const second = await client.stage(url);
  console.log(`second stage: ${second.fetched} bytes fetched, reused: ${second.reused}`);
  if (!second.reused || second.manifest.toText() !== first.manifest.toText()) {
    throw new Error("the unchanged URL was fetched again");
  }
  body = new TextEncoder().encode("version 2\n".repeat(10_000));
  const third = await client.stage(url);
  const text = await new Response(client.readable(third.manifest)).text();
  console.log(`after a change: ${third.fetched} bytes fetched; it begins '${text.slice(0, 9)}'`);
  if (text !== new TextDecoder().decode(body)) throw new Error("the new version was not stored");
} finally {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
}
