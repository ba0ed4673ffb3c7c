/**
 * Reads a remote object by HTTP Range requests with adaptive prefetch: a
 * sequential pass, a soft seek inside the window, a hard seek back, and the
 * statistics; then a whole read over a slow link, where the reader learns to
 * send more requests at once, and the same read fixed at 4. A local server on
 * 127.0.0.1 stands in for the remote one.
 *
 * Run: `node examples/read_with_prefetch.mjs` after `npm install` (Node 20 or later), or
 * `deno run -A examples/read_with_prefetch.mjs`.
 */
import { createServer } from "node:http";
import { httpSource, openReadable, openReader } from "stowage";

const data = new Uint8Array(48 * 1024 * 1024).map((_, i) => (i * 13) & 0xff);
let slow = false;
const server = createServer(async (req, res) => {
  const match = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
  res.setHeader("etag", '"v1"');
  if (req.method === "HEAD") return res.end(void res.setHeader("content-length", data.length));
  if (!match) return res.end(data);
  const [start, end] = [Number(match[1]), Number(match[2]) + 1];
  res.writeHead(206, { "content-range": `bytes ${start}-${end - 1}/${data.length}` });
  if (!slow) return res.end(data.subarray(start, end));
  // A slow link: 20 ms, then 64 KiB every 16 ms (4 MB/s) on each connection.
  await new Promise((resolve) => setTimeout(resolve, 20));
  for (let at = start; at < end && !res.destroyed; at += 65536) {
    res.write(data.subarray(at, Math.min(end, at + 65536)));
    await new Promise((resolve) => setTimeout(resolve, 16));
  }
  res.end();
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const url = `http://127.0.0.1:${(server.address()).port}/object`;

try {
  const reader = openReader(await httpSource(url));
  for (let i = 0; i < 8; i++) await reader.read(1024 * 1024); // sequential: the window grows
  reader.seek(reader.position + 2 * 1024 * 1024); // forward, inside the window: soft
  await reader.read(1024 * 1024);
  await reader.readAt(0, 4096); // backward: hard, requests in flight are aborted
  console.log(reader.stats);
  await reader.close();

  // Over a slow link, the default reader sends more requests while that pays.
  slow = true;
  for (const options of [{}, { maxRangeRequests: 4, adaptive: false }]) {
    const started = performance.now();
    const whole = openReader(await httpSource(url), options);
    while ((await whole.read(1024 * 1024)) !== null);
    const seconds = (performance.now() - started) / 1000;
    const { concurrencyChanges } = whole.stats;
    await whole.close();
    console.log(
      `${JSON.stringify(options)}: ${(data.length / seconds / 1e6).toFixed(1)} MB/s; limit ` +
        concurrencyChanges.map((c) => `${c.concurrency} (${c.reason}, ${c.atMs} ms)`).join(" → "),
    );
  }
  slow = false;

  // The same as a byte stream, e.g. for a Response body or a BYOB reader.
  const tail = openReadable(await httpSource(url), { start: data.length - 1000 });
  console.log(`tail: ${(await new Response(tail).arrayBuffer()).byteLength} bytes`);

  // Any object with a size and read() is a source. One that can also stream a
  // range gets progressive hand-off: a read resolves once its own bytes are in.
  const blob = new Blob([data]);
  /** @type {import("stowage").RangeSource} */
  const custom = {
    size: blob.size,
    read: async (start, end) => new Uint8Array(await blob.slice(start, end).arrayBuffer()),
    stream: (start, end) => blob.slice(start, end).stream(),
  };
  const streamed = openReader(custom);
  console.log(`custom source: first byte ${(await streamed.read(1))?.[0]}`);
  await streamed.close();
} finally {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}
