/**
 * Stores a stream in a FileStore and reads it back.
 *
 * Run: `node examples/put_and_get.mjs` after `npm install` (Node 20 or later), or
 * `deno run -A examples/put_and_get.mjs`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BlockClient, FileStore, Manifest } from "stowage";

const root = await mkdtemp(join(tmpdir(), "stowage-example-"));
try {
  // One local store: one copy of each block.
  const client = new BlockClient({ services: [new FileStore(root)] });
  const text = "Stowage stores byte streams as content-addressed blocks.\n".repeat(1000);
  const sink = client.writable({ blockSize: 16 * 1024, name: "notes.txt" });
  await new Blob([text]).stream().pipeTo(sink);
  const { manifest, blocks, bytes } = await sink.result;
  console.log(`stored ${bytes} bytes in ${blocks} blocks`);
  console.log(manifest.toText());

  // The manifest is plain text (or JSON): keep it anywhere, parse it later.
  const again = Manifest.parse(manifest.toText());
  const back = await new Response(client.readable(again)).text();
  if (back !== text) throw new Error("round trip failed");
  console.log("read back", back.length, "characters, identical");
} finally {
  await rm(root, { recursive: true, force: true });
}
