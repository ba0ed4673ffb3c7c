/**
 * Stores three versions of a file with content-defined chunking: each version
 * stores only the chunks it adds, and every version reads back whole.
 *
 * Run: `node examples/versions_dedup.mjs` after `npm install` (Node 20 or
 * later), or `deno run -A examples/versions_dedup.mjs`.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BlockClient, FileStore } from "stowage";

const root = await mkdtemp(join(tmpdir(), "stowage-example-"));
try {
  // The FileStore keeps its chunk index in <root>/chunks, so later writes,
  // by this process or another, find the chunks stored before.
  const client = new BlockClient({ services: [new FileStore(root)] });
  const v1 = new Uint8Array(8 * 1024 * 1024);
  for (let i = 0; i < v1.length; i += 65536) crypto.getRandomValues(v1.subarray(i, i + 65536));
  // v2: 5 KiB inserted at 1 MiB; v3: 3 KiB deleted at 6 MiB.
  const v2 = concat(
    v1.subarray(0, 1 << 20),
    crypto.getRandomValues(new Uint8Array(5120)),
    v1.subarray(1 << 20),
  );
  const v3 = concat(v2.subarray(0, 6 << 20), v2.subarray((6 << 20) + 3072));
  const manifests = [];
  for (const [i, version] of [v1, v2, v3].entries()) {
    const sink = client.writable({ chunking: "content", name: `v${i + 1}.bin` });
    await new Blob([version]).stream().pipeTo(sink);
    const { manifest, bytes, bytesStored, chunks, chunksReused } = await sink.result;
    console.log(
      `v${
        i + 1
      }: ${bytes} bytes, ${bytesStored} stored; ${chunksReused} of ${chunks} chunks found stored`,
    );
    manifests.push(manifest);
  }
  // Plain Keep manifest text: the file as segments of the blocks it uses.
  console.log(manifests[2].toText().slice(0, 160), "…");
  for (const [i, version] of [v1, v2, v3].entries()) {
    const back = new Uint8Array(await new Response(client.readable(manifests[i])).arrayBuffer());
    if (back.length !== version.length || back.some((b, k) => b !== version[k])) {
      throw new Error(`v${i + 1} did not read back`);
    }
  }
  console.log("every version reads back byte for byte");
} finally {
  await rm(root, { recursive: true, force: true });
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
