// vitest globalSetup: makes sure an S3-compatible server answers before the S3
// tests run. It uses STOWAGE_S3_ENDPOINT when set; otherwise it starts the
// project's Swift server (scripts/s3-test-server.sh) unless it is already up,
// and stops it afterwards only if it started it. When the server cannot
// start, the S3 tests fail with the reason (see test/_s3.ts); they are never
// skipped silently.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";

export interface S3TestServer {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Why the server is not available, when it is not. */
  error?: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    s3: S3TestServer;
  }
}

const script = fileURLToPath(new URL("../scripts/s3-test-server.sh", import.meta.url));

async function healthy(endpoint: string): Promise<boolean> {
  try {
    const response = await fetch(new URL("/healthcheck", endpoint), {
      signal: AbortSignal.timeout(2000),
    });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

export default async function setup(project: TestProject): Promise<() => void> {
  const env = process.env;
  const server: S3TestServer = {
    endpoint: env.STOWAGE_S3_ENDPOINT ?? `http://127.0.0.1:${env.S3_PORT ?? 18080}`,
    region: env.STOWAGE_S3_REGION ?? "us-east-1",
    accessKeyId: env.STOWAGE_S3_ACCESS_KEY_ID ?? "test:tester",
    secretAccessKey: env.STOWAGE_S3_SECRET_ACCESS_KEY ?? "testing",
  };
  let started = false;
  if (env.STOWAGE_S3_ENDPOINT === undefined && !(await healthy(server.endpoint))) {
    const run = spawnSync("bash", [script, "start"], { encoding: "utf8", timeout: 180_000 });
    if (run.status === 0) {
      started = true;
    } else {
      server.error = `the S3 test server did not start ('bash scripts/s3-test-server.sh start' ${
        run.error ? `failed: ${run.error.message}` : `exited ${run.status}`
      }):\n${(run.stderr + run.stdout).trim().slice(-2000)}`;
    }
  }
  project.provide("s3", server);
  return () => {
    if (started) spawnSync("bash", [script, "stop"], { stdio: "ignore", timeout: 60_000 });
  };
}
