/**
 * Two S3 buckets as two replicas: a stream stored with copies = 2, one block
 * object per bucket each, and read back through `client.readable()`.
 *
 * Against the project's local S3 server:
 * `bash scripts/s3-test-server.sh start && node examples/s3_buckets.mjs` (or `deno run -A examples/s3_buckets.mjs`).
 * Against another S3 service, set `S3_ENDPOINT` (or leave it unset for AWS),
 * `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_REGION`.
 */
import process from "node:process";
import { BlockClient } from "stowage";
import { S3Store } from "stowage/s3";

const env = process.env;
const options = {
  endpoint: env.S3_ENDPOINT ?? "http://127.0.0.1:18080",
  region: env.AWS_REGION ?? "us-east-1",
  accessKeyId: env.AWS_ACCESS_KEY_ID ?? "test:tester",
  secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? "testing",
};
const run = Date.now().toString(36);
const buckets = [
  new S3Store({ ...options, bucket: `stowage-example-a-${run}`, prefix: "blocks" }),
  new S3Store({ ...options, bucket: `stowage-example-b-${run}`, prefix: "blocks" }),
];
for (const bucket of buckets) await bucket.createBucket();

const client = new BlockClient({ services: buckets, copies: 2 });
const data = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7 + (i >> 20)) & 0xff);
const sink = client.writable({ blockSize: 1024 * 1024, name: "data.bin" });
await new Blob([data]).stream().pipeTo(sink);
const { manifest, replicas } = await sink.result;
console.log(`${replicas.length} blocks, each on ${Math.min(...replicas)} buckets:`);
for (const locator of manifest.blocks()) console.log(`  ${buckets[0].keyOf(locator)}`);

const back = new Uint8Array(await new Response(client.readable(manifest)).arrayBuffer());
if (back.length !== data.length || back.some((b, i) => b !== data[i])) {
  throw new Error("round trip failed");
}
console.log("read back intact");

// Tidy up: the example's blocks go; the empty buckets stay.
for (const bucket of buckets) {
  for await (const { locator } of bucket.list()) await bucket.delete(locator);
}
