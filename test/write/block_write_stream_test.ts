import { afterEach, describe, expect, it } from "vitest";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  BlockClient,
  InsufficientReplicasError,
  MemoryStore,
  type WriteProgress,
} from "../../mod.ts";
import { closeMidBody, failPuts, seeded, stallPuts, startKeepServers } from "../_keep_servers.ts";
import { generatedStream, sha256OfStream, streamOf } from "../_utils.ts";

const MiB = 1024 * 1024;
const fast = { rounds: 6, baseDelay: 1, maxDelay: 10 };
let env: Awaited<ReturnType<typeof startKeepServers>> | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

describe("BlockWriteStream", () => {
  it("stores a stream as replicated blocks and reads it back identical", async () => {
    env = await startKeepServers(3);
    const client = new BlockClient({ services: env.urls, retry: fast });
    const { stream, sha256 } = generatedStream(5 * MiB + 123, 3, 300_000);
    const sink = client.writable({ blockSize: 256 * 1024, blocksInFlight: 3, name: "data.bin" });
    await stream.pipeTo(sink);
    const result = await sink.result;
    expect(result.bytes).toBe(5 * MiB + 123);
    expect(result.blocks).toBe(21);
    expect(result.replicas).toEqual(Array(21).fill(2));
    expect(result.manifest.files[0]!.name).toBe("data.bin");
    const stored = env.servers.reduce((n, s) => n + s.store.bytes, 0);
    expect(stored).toBe(2 * (5 * MiB + 123));
    expect((await sha256OfStream(client.readable(result.manifest))).hex).toBe(sha256());
  });

  it("gives an empty manifest for an empty stream", async () => {
    const client = new BlockClient({ services: [new MemoryStore({ id: "a" })], copies: 1 });
    const sink = client.writable();
    await streamOf<Uint8Array>([]).pipeTo(sink);
    const result = await sink.result;
    expect([result.bytes, result.blocks, result.manifest.size]).toEqual([0, 0, 0]);
  });

  it("applies backpressure: at most concurrency blocks in flight plus one filling", async () => {
    env = await startKeepServers(2);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    for (const s of env.servers) {
      s.fault = async (request) => {
        if (request.method === "PUT") await gate;
        return undefined;
      };
    }
    const client = new BlockClient({ services: env.urls, retry: fast });
    const sink = client.writable({ blockSize: 1024, blocksInFlight: 2 });
    const writer = sink.getWriter();
    const writes: Promise<void>[] = [];
    let resolved = 0;
    for (let i = 0; i < 6; i++) {
      const w = writer.write(new Uint8Array(1024).fill(i));
      w.then(() => resolved++, () => {});
      writes.push(w);
    }
    await new Promise((r) => setTimeout(r, 200));
    // Two blocks uploading, a third hashed and waiting for a slot; nothing more taken in.
    expect(sink.progress.bytesHashed).toBe(3 * 1024);
    expect(resolved).toBe(2);
    expect(env.servers.reduce((n, s) => n + s.active, 0)).toBe(4);
    release();
    await Promise.all(writes);
    await writer.close();
    expect((await sink.result).blocks).toBe(6);
  });

  it("fires progress events", async () => {
    const client = new BlockClient({ services: [new MemoryStore({ id: "a" })], copies: 1 });
    const sink = client.writable({ blockSize: 1000 });
    const events: WriteProgress[] = [];
    sink.addEventListener("progress", (e) => events.push((e as CustomEvent<WriteProgress>).detail));
    await streamOf([new Uint8Array(2500)]).pipeTo(sink);
    await sink.result;
    expect(events.at(-1)).toEqual({
      bytesReceived: 2500,
      bytesHashed: 2500,
      bytesSent: 2500,
      bytesUploaded: 2500,
      blocksDone: 3,
      blocksSkipped: 0,
      replicasConfirmed: 3,
      chunksReused: 0,
      bytesReused: 0,
    });
  });

  it("skips blocks already fully replicated (skipExisting)", async () => {
    env = await startKeepServers(3);
    const client = new BlockClient({ services: env.urls, retry: fast });
    const data = generatedStream(300_000, 9, 50_000);
    const first = client.writable({ blockSize: 100_000 });
    await data.stream.pipeTo(first);
    const puts = env.servers.reduce((n, s) => n + (s.requests.PUT ?? 0), 0);
    const again = client.writable({ blockSize: 100_000, skipExisting: true });
    await generatedStream(300_000, 9, 50_000).stream.pipeTo(again);
    const result = await again.result;
    expect(env.servers.reduce((n, s) => n + (s.requests.PUT ?? 0), 0)).toBe(puts);
    expect(again.progress.blocksSkipped).toBe(3);
    expect(result.manifest.toText()).toBe((await first.result).manifest.toText());
  });

  it("aborts on its signal: PUTs in flight are cancelled and result rejects with the reason", async () => {
    // Plain node:http servers that never answer, counting open requests: a
    // request leaves the count only when the client's connection closes.
    const stalled = await Promise.all([0, 1].map(() => startStallServer()));
    try {
      const client = new BlockClient({ services: stalled.map((s) => s.url), retry: fast });
      const controller = new AbortController();
      const sink = client.writable({ blockSize: 1000, signal: controller.signal });
      const piping = generatedStream(100_000, 1, 1000).stream.pipeTo(sink);
      for (let i = 0; i < 100 && stalled.reduce((n, s) => n + s.open(), 0) < 8; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(stalled.reduce((n, s) => n + s.open(), 0)).toBe(8);
      const reason = new Error("user cancelled");
      controller.abort(reason);
      await expect(sink.result).rejects.toBe(reason);
      await expect(piping).rejects.toBe(reason);
      for (let i = 0; i < 100 && stalled.some((s) => s.open() > 0); i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(stalled.reduce((n, s) => n + s.open(), 0)).toBe(0);
      const seen = stalled.reduce((n, s) => n + s.seen(), 0);
      await new Promise((r) => setTimeout(r, 100));
      expect(stalled.reduce((n, s) => n + s.seen(), 0)).toBe(seen);
    } finally {
      await Promise.all(stalled.map((s) => s.close()));
    }
  });

  it("rejects result only after every PUT in flight has let go of its request", async () => {
    // A store that takes 50 ms to release a PUT after the abort.
    let open = 0;
    const slow = {
      id: "slow",
      put: (_bytes: Uint8Array, options: { signal?: AbortSignal } = {}) => {
        open++;
        return new Promise<never>((_, reject) => {
          options.signal!.addEventListener("abort", () => {
            setTimeout(() => {
              open--;
              reject(options.signal!.reason);
            }, 50);
          }, { once: true });
        });
      },
      get: () => Promise.reject(new Error("unused")),
      has: () => Promise.resolve(false),
      delete: () => Promise.resolve(false),
      list: async function* () {},
    };
    const client = new BlockClient({ services: [slow], copies: 1, retry: fast });
    const controller = new AbortController();
    const sink = client.writable({ blockSize: 100, blocksInFlight: 3, signal: controller.signal });
    const piping = generatedStream(10_000, 1, 100).stream.pipeTo(sink).catch((e) => e);
    for (let i = 0; i < 100 && open < 3; i++) await new Promise((r) => setTimeout(r, 5));
    expect(open).toBe(3);
    const reason = new Error("stop");
    controller.abort(reason);
    await expect(sink.result).rejects.toBe(reason);
    expect(open).toBe(0);
    expect(await piping).toBe(reason);
  });

  it("aborts on writer.abort()", async () => {
    env = await startKeepServers(2, () => stallPuts());
    const client = new BlockClient({ services: env.urls, retry: fast });
    const sink = client.writable({ blockSize: 10 });
    const writer = sink.getWriter();
    writer.write(new Uint8Array(10)).catch(() => {});
    await new Promise((r) => setTimeout(r, 100));
    const reason = new Error("abort");
    await writer.abort(reason);
    await expect(sink.result).rejects.toBe(reason);
    // The servers notice the dropped connections a moment later.
    for (let i = 0; i < 50 && env.servers.some((s) => s.active > 0); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(env.servers.reduce((n, s) => n + s.active, 0)).toBe(0);
  });

  it("fails the stream when a block fails for good, without unhandled rejections", async () => {
    env = await startKeepServers(2, () => failPuts(507));
    const client = new BlockClient({ services: env.urls, retry: fast });
    const sink = client.writable({ blockSize: 1000 });
    const piping = generatedStream(10_000, 1, 1000).stream.pipeTo(sink);
    await expect(piping).rejects.toBeInstanceOf(InsufficientReplicasError);
    await expect(sink.result).rejects.toBeInstanceOf(InsufficientReplicasError);
  });

  it("stores everything despite servers that fail 30% of PUTs, stall, drop connections or are full", async () => {
    const flaky = seeded(0.3);
    env = await startKeepServers(5, (i) =>
      [
        failPuts(500, () => flaky()),
        stallPuts((n) => n % 4 === 1),
        closeMidBody((n) => n % 3 === 1),
        failPuts(507),
        undefined,
      ][i]);
    const client = new BlockClient({
      services: env.urls,
      retry: { rounds: 8, baseDelay: 1, maxDelay: 10 },
      timeouts: { headers: 300 },
    });
    const { stream, sha256 } = generatedStream(2 * MiB, 5, 100_000);
    const sink = client.writable({ blockSize: 64 * 1024, blocksInFlight: 4 });
    await stream.pipeTo(sink);
    const result = await sink.result;
    expect(result.replicas.every((r) => r >= 2)).toBe(true);
    expect(env.servers[3]!.store.bytes).toBe(0);
    expect((await sha256OfStream(client.readable(result.manifest))).hex).toBe(sha256());
  });
});

/** A node:http server that reads PUT bodies and never answers. */
async function startStallServer(): Promise<
  { url: string; open: () => number; seen: () => number; close: () => Promise<void> }
> {
  let open = 0;
  let seen = 0;
  const server = createServer((req) => {
    open++;
    seen++;
    req.resume();
    req.socket.once("close", () => open--);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    open: () => open,
    seen: () => seen,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

describe("BlockWriteStream, aborted while closing", () => {
  /** A putter whose PUTs never answer: only their signal ends them. */
  function stalledPutter() {
    const signals: AbortSignal[] = [];
    const putter = {
      algorithm: "md5" as const,
      copies: 1,
      replicas: () => Promise.resolve(0),
      put: (_bytes: Uint8Array, options: { signal?: AbortSignal } = {}) =>
        new Promise<never>((_, reject) => {
          signals.push(options.signal!);
          options.signal!.addEventListener("abort", () => reject(options.signal!.reason));
        }),
    };
    return { putter, signals };
  }

  async function threePutsInFlight(signals: AbortSignal[]): Promise<void> {
    for (let i = 0; i < 200 && signals.length < 3; i++) await new Promise((r) => setTimeout(r, 5));
    expect(signals.length).toBe(3);
  }

  it("writer.abort() during close() cancels the PUTs close() waits for", async () => {
    const { putter, signals } = stalledPutter();
    const { BlockWriteStream } = await import("../../mod.ts");
    const sink = new BlockWriteStream(putter, { blockSize: 4 });
    const writer = sink.getWriter();
    await writer.write(new Uint8Array(10));
    const closing = writer.close().catch((e) => e);
    await threePutsInFlight(signals);
    const reason = new Error("interrupted");
    // The abort waits on the close, whose failure it then shares.
    await writer.abort(reason).catch(() => {});
    expect(await closing).toBe(reason);
    await expect(sink.result).rejects.toBe(reason);
    expect(signals.every((s) => s.aborted)).toBe(true);
  });

  it("its signal cancels them too, where a pipe's signal no longer reaches the sink", async () => {
    const { putter, signals } = stalledPutter();
    const { BlockWriteStream } = await import("../../mod.ts");
    const controller = new AbortController();
    const sink = new BlockWriteStream(putter, { blockSize: 4, signal: controller.signal });
    const piped = streamOf([new Uint8Array(10)]).pipeTo(sink, { signal: controller.signal });
    await threePutsInFlight(signals);
    const reason = new Error("interrupted");
    controller.abort(reason);
    await expect(piped).rejects.toBe(reason);
    await expect(sink.result).rejects.toBe(reason);
    expect(signals.every((s) => s.aborted)).toBe(true);
  });
});
