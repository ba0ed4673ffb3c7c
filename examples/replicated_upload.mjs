/**
 * Three block servers on 127.0.0.1, a stream stored on two of them per block,
 * and read back through whichever replica answers.
 *
 * Run: `node examples/replicated_upload.mjs` after `npm install` (Node 20 or later), or
 * `deno run -A examples/replicated_upload.mjs`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BlockClient, FileStore } from "stowage";
import { createBlockHandler, serve } from "stowage/server";

const root = await mkdtemp(join(tmpdir(), "stowage-replicas-"));
/** @type {import("stowage/server").Server[]} */
const servers = [];
try {
  for (let i = 0; i < 3; i++) {
    const store = new FileStore(join(root, `server-${i}`));
    servers.push(await serve(createBlockHandler({ store, tokens: ["s3cret"] })));
  }
  const client = new BlockClient({
    services: servers.map((s) => s.url),
    copies: 2,
    token: "s3cret",
  });

  const sink = client.writable({ blockSize: 256 * 1024, blocksInFlight: 4, name: "data.bin" });
  sink.addEventListener("progress", (event) => {
    const { blocksDone, bytesUploaded } = event.detail;
    if (blocksDone % 4 === 0) console.log(`${blocksDone} blocks, ${bytesUploaded} bytes stored`);
  });
  const data = new Uint8Array(2 * 1024 * 1024).map((_, i) => (i * 31) & 0xff);
  await new Blob([data]).stream().pipeTo(sink);
  const { manifest, replicas } = await sink.result;
  console.log(
    `${replicas.length} blocks, replicas per block: ${[...new Set(replicas)].join(", ")}`,
  );

  // One server goes away: every block still has a replica elsewhere.
  await servers[0].close();
  const back = new Uint8Array(await new Response(client.readable(manifest)).arrayBuffer());
  if (back.length !== data.length || back.some((b, i) => b !== data[i])) {
    throw new Error("round trip failed");
  }
  console.log("read back intact with one server down");
} finally {
  await Promise.all(servers.map((s) => s.close()));
  await rm(root, { recursive: true, force: true });
}
