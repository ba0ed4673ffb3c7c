/**
 * bench/s3: upload the same 512 MiB stream to the same S3 server, in the same
 * run, with Stowage (one bucket, 8 MiB blocks, blocksInFlight 4) and with
 * `@aws-sdk/lib-storage`'s `Upload` (8 MiB parts, queue size 4). Each upload
 * runs in its own child process, so each peak RSS is its own. Prints the
 * throughput ratio (Stowage / SDK) and both peak RSS figures.
 *
 * The server is the project's Swift s3api (scripts/s3-test-server.sh), started
 * here when it is not already up, or STOWAGE_S3_ENDPOINT with
 * STOWAGE_S3_ACCESS_KEY_ID / STOWAGE_S3_SECRET_ACCESS_KEY.
 *
 * `npm run bench -- s3 [--mib 512] [--rounds 2]`
 */
import { spawn, spawnSync } from "node:child_process";
import process from "node:process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { BlockClient } from "../mod.ts";
import { S3Store } from "../lib/store/s3_store.ts";
import { record } from "./_record.ts";
import { arg, mib, rssSampler, runtime, stampedSource } from "./_utils.ts";

const MiB = 1024 ** 2;
const total = Number(arg("mib", "512")) * MiB;
const rounds = Number(arg("rounds", "2"));
const role = arg("role", "main");
const server = {
  endpoint: process.env.STOWAGE_S3_ENDPOINT ?? "http://127.0.0.1:18080",
  region: process.env.STOWAGE_S3_REGION ?? "us-east-1",
  accessKeyId: process.env.STOWAGE_S3_ACCESS_KEY_ID ?? "test:tester",
  secretAccessKey: process.env.STOWAGE_S3_SECRET_ACCESS_KEY ?? "testing",
};

async function uploadWithStowage(bucket: string): Promise<void> {
  const store = new S3Store({ ...server, bucket, prefix: `run-${Date.now()}` });
  const client = new BlockClient({ services: [store], copies: 1, cache: false });
  const sink = client.writable({ blockSize: 8 * MiB, blocksInFlight: 4 });
  await stampedSource(total).pipeTo(sink);
  await sink.result;
}

async function uploadWithSdk(bucket: string): Promise<void> {
  const client = new S3Client({
    ...server,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    forcePathStyle: true,
    // Swift's s3api refuses aws-chunked bodies (see ../shared/reference/s3-test-server-swift.md).
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  const upload = new Upload({
    client,
    params: { Bucket: bucket, Key: `sdk-${Date.now()}`, Body: stampedSource(total) },
    partSize: 8 * MiB,
    queueSize: 4,
  });
  await upload.done();
  client.destroy();
}

async function child(
  kind: "stowage" | "sdk",
  bucket: string,
): Promise<{ seconds: number; rss: number }> {
  const self = runtime === "deno"
    ? ["run", "-A", "--v8-flags=--expose-gc", fileURLToPath(import.meta.url)]
    : ["--expose-gc", process.argv[1]!];
  const proc = spawn(
    process.execPath,
    [...self, "--role", kind, "--bucket", bucket, "--mib", String(total / MiB)],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  let out = "";
  proc.stdout!.on("data", (c: Uint8Array) => (out += new TextDecoder().decode(c)));
  await new Promise<void>((resolve) => proc.once("close", () => resolve()));
  const line = /RESULT (\{.*\})/.exec(out);
  if (line === null) throw new Error(`${kind} upload printed no result: ${out.slice(-500)}`);
  return JSON.parse(line[1]!);
}

if (role === "stowage" || role === "sdk") {
  const bucket = arg("bucket", "");
  const sampler = rssSampler(10);
  const started = performance.now();
  await (role === "stowage" ? uploadWithStowage(bucket) : uploadWithSdk(bucket));
  const seconds = (performance.now() - started) / 1000;
  console.log(`RESULT ${JSON.stringify({ seconds, rss: sampler.stop() })}`);
  process.exit(0);
}

const root = process.env.STOWAGE_ROOT ?? fileURLToPath(new URL("..", import.meta.url));
const script = join(root, "scripts", "s3-test-server.sh");
let started = false;
if (process.env.STOWAGE_S3_ENDPOINT === undefined) {
  const status = spawnSync("bash", [script, "status"], { stdio: "ignore" }).status;
  if (status !== 0) {
    const start = spawnSync("bash", [script, "start"], { stdio: "inherit" });
    if (start.status !== 0) throw new Error("the S3 test server did not start");
    started = true;
  }
}
try {
  const bucket = `stowage-bench-${runtime}-${Date.now().toString(36)}`;
  await new S3Store({ ...server, bucket }).createBucket();
  console.log(`${mib(total)} to ${server.endpoint}, bucket ${bucket}, ${rounds} round(s) each`);
  const stowage: { seconds: number; rss: number }[] = [];
  const sdk: { seconds: number; rss: number }[] = [];
  for (let round = 0; round < rounds; round++) {
    // Alternate, so neither always meets a warmer (or fuller) server.
    for (
      const kind of round % 2 === 0 ? ["stowage", "sdk"] as const : ["sdk", "stowage"] as const
    ) {
      const result = await child(kind, bucket);
      (kind === "stowage" ? stowage : sdk).push(result);
      console.log(
        `  ${kind.padEnd(7)} ${mib(total / result.seconds)}/s  peak RSS ${mib(result.rss)}`,
      );
    }
  }
  const best = (runs: { seconds: number }[]) => Math.min(...runs.map((r) => r.seconds));
  const peak = (runs: { rss: number }[]) => Math.max(...runs.map((r) => r.rss));
  const ratio = best(sdk) / best(stowage);
  const summary = [
    `throughput ${ratio.toFixed(2)}x lib-storage Upload (target >= 1), ${
      mib(total / best(stowage))
    }/s vs ${mib(total / best(sdk))}/s`,
    `peak RSS ${mib(peak(stowage))} vs ${mib(peak(sdk))} (target: no more)`,
  ];
  console.log(`RESULT s3 (${runtime}): ${summary.join("; ")}`);
  const MiB = 1024 * 1024;
  record("s3", summary, [
    {
      title: `Uploading ${mib(total)} to an S3 server (Swift s3api on loopback)`,
      unit: "MiB/s",
      better: "higher",
      bars: [
        {
          label: "Stowage S3Store, client.writable()",
          value: total / best(stowage) / MiB,
          kind: "stowage",
        },
        { label: "@aws-sdk/lib-storage Upload", value: total / best(sdk) / MiB, kind: "baseline" },
      ],
    },
    {
      title: "Peak RSS of that upload",
      unit: "MiB",
      better: "lower",
      bars: [
        { label: "Stowage", value: peak(stowage) / MiB, kind: "stowage" },
        { label: "@aws-sdk/lib-storage Upload", value: peak(sdk) / MiB, kind: "baseline" },
      ],
    },
  ]);
  // The bucket's objects stay: `rm -rf /tmp/stowage-s3` resets the test server.
} finally {
  if (started) spawnSync("bash", [script, "stop"], { stdio: "inherit" });
}
