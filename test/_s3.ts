// The S3 server the tests use (started by test/_s3_global_setup.ts), and fresh
// buckets on it.
import { inject } from "vitest";
import { S3Store, type S3StoreOptions } from "../lib/store/s3_store.ts";
import { arrayFrom, runtime } from "./_utils.ts";

/** The server's endpoint and credentials; throws the reason it is not running. */
export function s3Server(): {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
} {
  const server = inject("s3");
  if (server.error !== undefined) throw new Error(server.error);
  return server;
}

let counter = 0;

/** A unique bucket name for this run, runtime and test file. */
export function bucketName(label: string): string {
  const unique = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  return `stowage-${runtime}-${label}-${unique}-${counter++}`.toLowerCase().slice(0, 63);
}

/** An S3Store on a new bucket of the test server. */
export async function newBucketStore(
  label: string,
  options: Partial<S3StoreOptions> = {},
): Promise<S3Store> {
  const server = s3Server();
  const store = new S3Store({ ...server, bucket: bucketName(label), ...options });
  await store.createBucket();
  return store;
}

/** Deletes every block a store lists (buckets themselves are left: they cost nothing). */
export async function emptyStore(store: S3Store): Promise<void> {
  for (const info of await arrayFrom(store.list())) await store.delete(info.locator);
}
