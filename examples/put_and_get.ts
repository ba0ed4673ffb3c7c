/**
 * Stores a stream in a FileStore and reads it back.
 *
 * Run: `deno run -A examples/put_and_get.ts`, or `node examples/put_and_get.ts`
 * on Node >= 22.18 (type stripping).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStore, getStream, Manifest, putStream } from "../mod.ts";

const root = await mkdtemp(join(tmpdir(), "stowage-example-"));
try {
  const store = new FileStore(root);
  const text = "Stowage stores byte streams as content-addressed blocks.\n".repeat(1000);
  const source = new Blob([text]).stream();

  const { manifest, blocks, bytes } = await putStream(store, source, {
    blockSize: 16 * 1024,
    name: "notes.txt",
  });
  console.log(`stored ${bytes} bytes in ${blocks} blocks`);
  console.log(manifest.toText());

  // The manifest is plain text (or JSON): keep it anywhere, parse it later.
  const again = Manifest.parse(manifest.toText());
  const back = await new Response(getStream(store, again)).text();
  if (back !== text) throw new Error("round trip failed");
  console.log("read back", back.length, "characters, identical");
} finally {
  await rm(root, { recursive: true, force: true });
}
