/**
 * Test helpers shared by both runtimes.
 *
 * @module
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHash, randomFillSync } from "node:crypto";
import { concat } from "../lib/platform/_concat.ts";

/** "deno" or "node": which runtime runs the suite. */
export const runtime: "deno" | "node" = "Deno" in globalThis ? "deno" : "node";

/** Makes a fresh temp folder; `cleanup()` removes it. */
export async function tempDir(): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), "stowage-test-"));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** Random bytes. */
export function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) {
    randomFillSync(out.subarray(i, Math.min(length, i + 65536)));
  }
  return out;
}

/** A stream of `total` pseudo-random bytes in chunks of varying size, with the SHA-256 of what it produced. */
export function generatedStream(
  total: number,
  seed = 1,
  maxChunk = 1 << 20,
): { stream: ReadableStream<Uint8Array>; sha256: () => string } {
  const hash = createHash("sha256");
  let produced = 0;
  let state = seed >>> 0 || 1;
  const next = (): number => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (produced >= total) {
        controller.close();
        return;
      }
      const size = Math.min(total - produced, 1 + (next() % maxChunk));
      const chunk = new Uint8Array(size);
      const words = new Uint32Array(chunk.buffer, 0, size >>> 2);
      for (let i = 0; i < words.length; i++) words[i] = next();
      for (let i = words.length * 4; i < size; i++) chunk[i] = next() & 0xff;
      hash.update(chunk);
      produced += size;
      controller.enqueue(chunk);
    },
  }, { highWaterMark: 0 });
  let hex: string | undefined;
  return { stream, sha256: () => (hex ??= hash.digest("hex")) };
}

/** SHA-256 hex of everything a stream yields. */
export async function sha256OfStream(
  stream: ReadableStream<Uint8Array>,
): Promise<{ hex: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { hex: hash.digest("hex"), bytes };
}

/** Concatenates chunks: the package's own helper. */
export { concat };

/** Collects a stream into one buffer. */
export async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of stream) chunks.push(c);
  return concat(chunks);
}

/** Lets queued promise jobs and timers run. */
export async function flushAsyncEvents(): Promise<void> {
  for (let i = 0; i < 4; i++) await new Promise((r) => setTimeout(r, 0));
}

export { join };

/** `Array.fromAsync`, which Node 20 lacks. */
export async function arrayFrom<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** A stream of the given chunks (`ReadableStream.from`, which TypeScript's DOM types lack). */
export function streamOf<T>(chunks: Iterable<T>): ReadableStream<T> {
  const list = [...chunks];
  return new ReadableStream<T>({
    pull(controller) {
      if (list.length === 0) controller.close();
      else controller.enqueue(list.shift()!);
    },
  }, { highWaterMark: 0 });
}
