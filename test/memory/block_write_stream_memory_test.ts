// Memory measurements, run on their own after the main suite (scripts/test.sh)
// so other test files' load does not blur them.
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { BlockClient } from "../../mod.ts";
import { generatedStream, runtime } from "../_utils.ts";

const MiB = 1024 * 1024;
const fast = { rounds: 6, baseDelay: 1, maxDelay: 10 };

describe("BlockWriteStream memory", () => {
  it("keeps ArrayBuffer memory under 60 MiB for a 2 GiB stream (8 MiB blocks, concurrency 4)", async () => {
    // Servers in child processes that read and discard bodies, so only the
    // client's memory counts.
    const children = await Promise.all([0, 1].map(() => startNullServer()));
    const urls = children.map((c) => c.url);
    const memory = () => {
      const usage = process.memoryUsage();
      // Deno reports ArrayBuffer memory as `external` and `arrayBuffers` as 0.
      return runtime === "deno" ? usage.external : usage.arrayBuffers;
    };
    // What the upload retains, not garbage awaiting collection: a sampler
    // collects, then measures (the vitest config exposes gc()).
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc === undefined) throw new Error("this test needs --expose-gc (set in vitest.config.ts)");
    const settle = async () => {
      // Backing stores are freed by a background sweeper: collect, let it run, collect.
      // Under load (the suite runs files in parallel on 2 cores) the sweeper
      // needs tens of milliseconds.
      gc();
      await new Promise((r) => setTimeout(r, 10));
      gc();
      return memory();
    };
    const baseline = await settle();
    let peak = 0;
    let done = false;
    const sampler = (async () => {
      while (!done) {
        peak = Math.max(peak, (await settle()) - baseline);
        await new Promise((r) => setTimeout(r, 15));
      }
    })();
    try {
      const client = new BlockClient({ services: urls, retry: fast });
      const sink = client.writable({ blockSize: 8 * MiB, blocksInFlight: 4 });
      await generatedStream(2048 * MiB, 11, MiB).stream.pipeTo(sink);
      const result = await sink.result;
      expect(result.blocks).toBe(256);
    } finally {
      done = true;
      await sampler;
      await Promise.all(children.map((c) => c.stop()));
    }
    console.log(
      `BlockWriteStream 2 GiB upload: peak retained ArrayBuffer memory ${
        (peak / MiB).toFixed(1)
      } MiB (${runtime})`,
    );
    // (concurrency + 1) × blockSize is 40 MiB of blocks; measured here Node
    // 26-33 MiB, Deno 51-52 MiB (samples fall between allocations).
    expect(peak).toBeLessThan(60 * MiB);
  });
});

/** Starts test/fixtures/null_keep_server.mjs in a child process of this runtime. */
function startNullServer(): Promise<{ url: string; stop: () => Promise<void> }> {
  const script = fileURLToPath(new URL("../fixtures/null_keep_server.mjs", import.meta.url));
  const args = runtime === "deno" ? ["run", "-A", script] : [script];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (chunk: Uint8Array) => {
      out += new TextDecoder().decode(chunk);
      const match = /URL (\S+)/.exec(out);
      if (match) {
        resolve({
          url: match[1]!,
          stop: () => {
            child.kill("SIGKILL");
            return exited;
          },
        });
      }
    });
    child.once("exit", (code) => reject(new Error(`null server exited with ${code}: ${out}`)));
  });
}
