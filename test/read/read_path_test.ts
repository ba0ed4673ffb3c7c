import { afterEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  BlockClient,
  bytesSource,
  fileSource,
  httpSource,
  MemoryStore,
  openReadable,
  openReader,
  RangeNotSupportedError,
  type RangeSource,
  ServiceError,
  SourceChangedError,
} from "../../mod.ts";
import { manifestSource } from "../../lib/read/manifest_source.ts";
import { startRangeServer } from "../_range_server.ts";
import { collect, join, randomBytes, tempDir } from "../_utils.ts";
import { writeFile } from "node:fs/promises";

const MiB = 1024 * 1024;

/**
 * A fetch over `data`: HEAD gives its size, a ranged GET its bytes (206),
 * unless `refuse(n)` (n counts the ranged GETs, from 1) answers first.
 */
function busyFetch(data: Uint8Array, refuse: (n: number) => Response | undefined): typeof fetch {
  let ranged = 0;
  return ((_: RequestInfo | URL, init?: RequestInit) => {
    const range = /bytes=(\d+)-(\d+)/.exec(new Headers(init?.headers).get("range") ?? "");
    if (init?.method === "HEAD" || range === null) {
      return Promise.resolve(
        new Response(null, { headers: { "content-length": `${data.length}` } }),
      );
    }
    const refusal = refuse(++ranged);
    if (refusal !== undefined) return Promise.resolve(refusal);
    const [start, end] = [Number(range[1]), Number(range[2]) + 1];
    return Promise.resolve(
      new Response(data.slice(start, end), {
        status: 206,
        headers: { "content-range": `bytes ${start}-${end - 1}/${data.length}` },
      }),
    );
  }) as typeof fetch;
}

/**
 * A source with small random delays that counts its open requests. With
 * `stream`, it also streams ranges in pieces of random sizes, as httpSource
 * does, and an injected failure strikes after the first piece (mid-stream).
 */
function slowSource(
  data: Uint8Array,
  fail?: (start: number) => boolean,
  options: { stream?: boolean } = {},
) {
  let open = 0;
  let requests = 0;
  const aborted: number[] = [];
  const source: RangeSource = {
    size: data.length,
    read(start, end, options = {}) {
      requests++;
      open++;
      return new Promise<Uint8Array>((resolve, reject) => {
        const timer = setTimeout(() => {
          open--;
          if (fail?.(start)) reject(new Error(`injected failure at ${start}`));
          else resolve(data.slice(start, end));
        }, Math.random() * 3);
        options.signal?.addEventListener("abort", () => {
          clearTimeout(timer);
          open--;
          aborted.push(start);
          reject(options.signal!.reason);
        }, { once: true });
      });
    },
  };
  if (options.stream) {
    source.stream = (start, end, opts = {}) => {
      requests++;
      open++;
      let at = start;
      let ended = false;
      const finish = (): void => {
        if (ended) return;
        ended = true;
        open--;
      };
      opts.signal?.addEventListener("abort", () => {
        if (!ended) aborted.push(start);
        finish();
      }, { once: true });
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          await new Promise((r) => setTimeout(r, Math.random() * 2));
          if (opts.signal?.aborted) {
            finish();
            throw opts.signal.reason;
          }
          if (at > start && fail?.(start)) {
            finish();
            throw new Error(`injected failure at ${start}`);
          }
          if (at >= end) {
            finish();
            return controller.close();
          }
          const n = Math.min(end - at, 1 + Math.floor(Math.random() * 300_000));
          controller.enqueue(data.slice(at, at + n));
          at += n;
        },
        cancel() {
          finish();
        },
      }, { highWaterMark: 0 });
    };
  }
  return { source, open: () => open, requests: () => requests, aborted };
}

describe("openReader", () => {
  it("reads sequentially, prefetching ahead", async () => {
    const data = randomBytes(20 * MiB);
    const { source } = slowSource(data);
    const reader = openReader(source);
    const chunks: Uint8Array[] = [];
    for (;;) {
      const chunk = await reader.read(MiB);
      if (chunk === null) break;
      chunks.push(chunk.slice());
    }
    expect(Buffer.concat(chunks).equals(Buffer.from(data))).toBe(true);
    expect(reader.stats.bytesAsked).toBe(20 * MiB);
    expect(reader.stats.bytesFetched).toBe(20 * MiB);
    await reader.close();
  });

  for (const stream of [false, true]) {
    it(`returns exactly the bytes of slicing a reference buffer, for any reads and seeks (property, ${stream ? "streamed" : "whole"} ranges)`, async () => {
      const data = randomBytes(3 * MiB + 12345);
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.oneof(
              fc.record({
                op: fc.constant("read" as const),
                n: fc.integer({ min: 0, max: 600_000 }),
              }),
              fc.record({
                op: fc.constant("seek" as const),
                to: fc.integer({ min: 0, max: data.length }),
              }),
              fc.record({
                op: fc.constant("readAt" as const),
                to: fc.integer({ min: 0, max: data.length }),
                n: fc.integer({ min: 0, max: 300_000 }),
              }),
            ),
            { maxLength: 25 },
          ),
          fc.integer({ min: 1, max: 6 }),
          async (ops, maxRangeRequests) => {
            const { source, open } = slowSource(data, undefined, { stream });
            const reader = openReader(source, { maxRangeRequests, maxPrefetch: 2 * MiB });
            let position = 0;
            for (const op of ops) {
              if (op.op === "seek") {
                reader.seek(op.to);
                position = op.to;
                continue;
              }
              if (op.op === "readAt") position = op.to;
              const n = op.n;
              const got = op.op === "read" ? await reader.read(n) : await reader.readAt(op.to, n);
              const expected = data.subarray(position, Math.min(data.length, position + n));
              // At the end a read gives null, even a read of 0 bytes.
              if (position >= data.length) expect(got).toBeNull();
              else expect(Buffer.from(got!).equals(Buffer.from(expected))).toBe(true);
              position = Math.min(data.length, position + n);
              expect(reader.position).toBe(position);
            }
            await reader.close();
            await new Promise((r) => setTimeout(r, 5));
            expect(open()).toBe(0);
          },
        ),
        { numRuns: 60 },
      );
    });
  }

  it("tells soft seeks (inside the window) from hard ones, and hard seeks abort what is in flight", async () => {
    const data = randomBytes(64 * MiB);
    const { source, aborted } = slowSource(data);
    const reader = openReader(source, { maxRangeRequests: 4 });
    for (let i = 0; i < 6; i++) await reader.read(MiB);
    const soft = reader.position + MiB;
    reader.seek(soft);
    expect(reader.stats.softSeeks).toBe(1);
    expect(
      Buffer.from((await reader.read(1000))!).equals(Buffer.from(data.subarray(soft, soft + 1000))),
    ).toBe(true);
    reader.seek(100);
    expect(reader.stats.hardSeeks).toBe(1);
    expect(Buffer.from((await reader.read(10))!).equals(Buffer.from(data.subarray(100, 110)))).toBe(
      true,
    );
    reader.seek(60 * MiB);
    expect(reader.stats.hardSeeks).toBe(2);
    await reader.close();
    expect(aborted.length).toBeGreaterThan(0);
  });

  for (const stream of [false, true]) {
    it(`makes a fetch error sticky until a seek clears it (${stream ? "mid-stream" : "whole range"})`, async () => {
      const data = randomBytes(8 * MiB);
      let failing = true;
      const { source } = slowSource(data, (start) => failing && start >= 3 * MiB, { stream });
      const reader = openReader(source, { maxRangeRequests: 2 });
      await reader.read(MiB);
      await reader.read(MiB);
      await reader.read(MiB);
      await expect(reader.read(MiB)).rejects.toThrow(/injected failure/);
      await expect(reader.read(1)).rejects.toThrow(/injected failure/);
      failing = false;
      reader.seek(3 * MiB);
      expect(
        Buffer.from((await reader.read(MiB))!).equals(Buffer.from(data.subarray(3 * MiB, 4 * MiB))),
      ).toBe(true);
      await reader.close();
    });
  }

  for (const stream of [false, true]) {
    it(`leaves the reads before a failed prefetch alone (${stream ? "mid-stream" : "whole range"})`, async () => {
      const data = randomBytes(8 * MiB);
      const failedAt: number[] = [];
      // The first 3 MiB come slowly; anything at or past 3 MiB fails at once,
      // so the prefetch ahead fails while the reads before it still wait.
      const slow: RangeSource = {
        size: data.length,
        async read(start, end) {
          if (start >= 3 * MiB) {
            failedAt.push(start);
            throw new Error(`injected failure at ${start}`);
          }
          await new Promise((r) => setTimeout(r, 30));
          return data.slice(start, end);
        },
      };
      if (stream) {
        slow.stream = (start, end) =>
          new ReadableStream<Uint8Array>({
            async pull(controller) {
              controller.enqueue(await slow.read(start, end));
              controller.close();
            },
          }, { highWaterMark: 0 });
      }
      const reader = openReader(slow, { maxRangeRequests: 4 });
      for (let i = 0; i < 3; i++) {
        const bytes = await reader.read(MiB);
        expect(Buffer.from(bytes!).equals(Buffer.from(data.subarray(i * MiB, (i + 1) * MiB))))
          .toBe(true);
      }
      expect(failedAt.length).toBeGreaterThan(0);
      await expect(reader.read(MiB)).rejects.toThrow(/injected failure at 3145728/);
      await expect(reader.read(1)).rejects.toThrow(/injected failure/);
      await reader.close();
    });
  }

  it("hands over the bytes a broken-off range delivered before raising its error", async () => {
    const data = randomBytes(32 * MiB);
    let brokenAt = -1;
    // Streams 1 MiB pieces; the first range longer than 1 MiB breaks off
    // after its first piece.
    const source: RangeSource = {
      size: data.length,
      read: () => Promise.reject(new Error("read() must not be used when stream() exists")),
      stream: (start, end) => {
        let at = start;
        return new ReadableStream<Uint8Array>({
          pull(controller) {
            if (at > start && end - start > MiB && (brokenAt < 0 || brokenAt === start)) {
              brokenAt = start;
              throw new Error(`injected break at ${at}`);
            }
            if (at >= end) return controller.close();
            const n = Math.min(end - at, MiB);
            controller.enqueue(data.slice(at, at + n));
            at += n;
          },
        }, { highWaterMark: 0 });
      },
    };
    const reader = openReader(source, { maxRangeRequests: 1 });
    let error: unknown;
    for (;;) {
      const from = reader.position;
      try {
        const bytes = await reader.read(MiB);
        expect(Buffer.from(bytes!).equals(Buffer.from(data.subarray(from, from + MiB)))).toBe(true);
        // A slow consumer: the range ahead has broken off before it is read.
        await new Promise((r) => setTimeout(r, 5));
      } catch (e) {
        error = e;
        break;
      }
    }
    expect(brokenAt).toBeGreaterThan(0);
    expect(reader.position).toBe(brokenAt + MiB);
    expect(String(error)).toMatch(/injected break/);
    await reader.close();
  });

  it("hands a read its bytes as they arrive, before the rest of its range", async () => {
    const data = randomBytes(64 * MiB);
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const streams: { start: number; end: number; delivered: number; stalled: boolean }[] = [];
    let cancelled = 0;
    // Streams in 1 MiB pieces; a range longer than that stalls after its first
    // MiB until released. The source ignores the signal: only cancel() ends it.
    const source: RangeSource = {
      size: data.length,
      read: () => Promise.reject(new Error("read() must not be used when stream() exists")),
      stream: (start, end) => {
        const s = { start, end, delivered: 0, stalled: false };
        streams.push(s);
        return new ReadableStream<Uint8Array>({
          async pull(controller) {
            if (s.delivered > 0 && end - start > MiB) {
              s.stalled = true;
              await released;
              s.stalled = false;
            }
            const at = start + s.delivered;
            if (at >= end) return controller.close();
            const n = Math.min(end - at, MiB);
            controller.enqueue(data.slice(at, at + n));
            s.delivered += n;
          },
          cancel: () => void cancelled++,
        }, { highWaterMark: 0 });
      },
    };
    const reader = openReader(source, { maxRangeRequests: 1 });
    const timeout = () => new Promise<"hung">((r) => setTimeout(() => r("hung"), 300));
    let bytes: Uint8Array | null | "hung" = null;
    let pending: Promise<Uint8Array | null> | undefined;
    for (let i = 0; i < 30; i++) {
      const from = reader.position;
      pending = reader.read(MiB);
      bytes = await Promise.race([pending, timeout()]);
      if (bytes === "hung") break;
      expect(Buffer.from(bytes!).equals(Buffer.from(data.subarray(from, from + MiB)))).toBe(true);
    }
    // The read that waits is the second MiB of a range still in flight: the
    // first MiB was handed over before the range finished.
    expect(bytes).toBe("hung");
    const stalled = streams.find((s) => s.stalled)!;
    expect(stalled.end - stalled.start).toBeGreaterThan(MiB);
    expect(reader.position).toBe(stalled.start + MiB);
    // A hard seek cancels it, though the source ignores the signal.
    reader.seek(60 * MiB);
    expect(cancelled).toBeGreaterThan(0);
    await expect(pending).rejects.toThrow(/position moved/);
    release();
    const tail = await reader.read(MiB);
    expect(Buffer.from(tail!).equals(Buffer.from(data.subarray(60 * MiB, 61 * MiB)))).toBe(true);
    await reader.close();
  });

  it("settles a read at a hard seek, and counts in bytesFetched what the dropped request still delivered", async () => {
    const data = randomBytes(16 * MiB);
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let delivered = 0;
    // Ignores the signal, as a source may: its bytes come in after the seek.
    const source: RangeSource = {
      size: data.length,
      async read(start, end) {
        if (start === 0) await released;
        delivered += end - start;
        return data.slice(start, end);
      },
    };
    const reader = openReader(source, { maxRangeRequests: 1 });
    const first = reader.read(MiB);
    await new Promise((r) => setTimeout(r, 10));
    reader.seek(12 * MiB);
    // The waiting read settles at the seek, not when the source answers.
    const settled = await Promise.race([
      first.then(() => "read", (error: Error) => error.message),
      new Promise<string>((r) => setTimeout(() => r("still waiting"), 1000)),
    ]);
    expect(settled).toMatch(/position moved/);
    // The dropped request still holds the one connection until it settles.
    release();
    expect((await reader.read(MiB))!.length).toBe(MiB);
    await reader.close();
    expect(delivered).toBeGreaterThan(MiB);
    expect(reader.stats.bytesFetched).toBe(delivered);
  });

  it("closes: pending reads settle and no request stays open", async () => {
    const data = randomBytes(4 * MiB);
    let open = 0;
    const never: RangeSource = {
      size: data.length,
      read: (_s, _e, options = {}) => {
        open++;
        return new Promise((_, reject) =>
          options.signal?.addEventListener("abort", () => {
            open--;
            reject(options.signal!.reason);
          })
        );
      },
    };
    const reader = openReader(never);
    const pending = reader.read(MiB);
    await new Promise((r) => setTimeout(r, 5));
    expect(open).toBeGreaterThan(0);
    await reader.close();
    await expect(pending).rejects.toThrow(/closed/);
    expect(open).toBe(0);
    await expect(reader.read(1)).rejects.toThrow(/closed/);
  });

  it("aborts on its signal", async () => {
    const { source, open } = slowSource(randomBytes(MiB));
    const controller = new AbortController();
    const reader = openReader(source, { signal: controller.signal });
    await reader.read(1000);
    controller.abort(new Error("stop"));
    await expect(reader.read(10)).rejects.toThrow("stop");
    await new Promise((r) => setTimeout(r, 5));
    expect(open()).toBe(0);
  });

  it("fetches at most 1.25x the bytes of random 64 KiB reads", async () => {
    const data = randomBytes(64 * MiB);
    const { source } = slowSource(data);
    const reader = openReader(source);
    for (let i = 0; i < 200; i++) {
      const at = Math.floor(Math.random() * (data.length - 65536));
      await reader.readAt(at, 65536);
    }
    expect(reader.stats.amplification).toBeLessThanOrEqual(1.25);
    await reader.close();
  });

  it("reads a view [start, end)", async () => {
    const data = randomBytes(100_000);
    const reader = openReader(bytesSource(data), { start: 1000, end: 5000 });
    expect(reader.size).toBe(4000);
    expect((await reader.read(0))!.length).toBe(0);
    expect(Buffer.from((await reader.read(10_000))!).equals(Buffer.from(data.subarray(1000, 5000))))
      .toBe(true);
    expect(await reader.read(1)).toBeNull();
    expect(await reader.read(0)).toBeNull();
  });
});

describe("openReadable", () => {
  it("streams with a default reader and with a BYOB reader", async () => {
    const data = randomBytes(5 * MiB + 7);
    expect(Buffer.from(await collect(openReadable(bytesSource(data)))).equals(Buffer.from(data)))
      .toBe(true);
    const reader = openReadable(bytesSource(data), { start: 100 }).getReader({ mode: "byob" });
    const out: Uint8Array[] = [];
    for (;;) {
      const { done, value } = await reader.read(new Uint8Array(300_000));
      if (done) break;
      out.push(value.slice());
    }
    expect(Buffer.concat(out).equals(Buffer.from(data.subarray(100)))).toBe(true);
  });

  it("cancel() reaches every request in flight", async () => {
    const { source, open } = slowSource(randomBytes(64 * MiB));
    const stream = openReadable(source);
    const reader = stream.getReader();
    for (let i = 0; i < 5; i++) await reader.read();
    await reader.cancel(new Error("enough"));
    await new Promise((r) => setTimeout(r, 5));
    expect(open()).toBe(0);
  });
});

describe("sources", () => {
  let server: Awaited<ReturnType<typeof startRangeServer>> | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("httpSource reads ranges, pinning the ETag", async () => {
    const data = randomBytes(3 * MiB);
    server = await startRangeServer(data);
    const source = await httpSource(server.url);
    expect(source.size).toBe(data.length);
    expect(source.etag).toBe('"v1"');
    const got = await collect(openReadable(source));
    expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
  });

  it("httpSource streams a range in 1 MiB pieces, and cancelling it ends the request", async () => {
    const data = randomBytes(4 * MiB);
    server = await startRangeServer(data, { bytesPerSecond: 20e6 });
    const source = await httpSource(server.url);
    const pieces: Uint8Array[] = [];
    for await (const piece of source.stream!(100, 100 + 2.5 * MiB)) pieces.push(piece);
    expect(pieces.map((p) => p.length)).toEqual([MiB, MiB, MiB / 2]);
    expect(Buffer.concat(pieces).equals(Buffer.from(data.subarray(100, 100 + 2.5 * MiB)))).toBe(
      true,
    );
    const reader = source.stream!(0, data.length).getReader();
    await reader.read();
    expect(server.open()).toBe(1);
    await reader.cancel();
    for (let i = 0; i < 100 && server.open() > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(server.open()).toBe(0);
    // And so does its signal.
    const controller = new AbortController();
    const aborted = source.stream!(0, data.length, { signal: controller.signal }).getReader();
    await aborted.read();
    controller.abort(new Error("enough"));
    // A piece already on its way may still come; then the stream errors.
    const drained = (async () => {
      for (;;) if ((await aborted.read()).done) return "ended";
    })();
    await expect(drained).rejects.toThrow();
    for (let i = 0; i < 100 && server.open() > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(server.open()).toBe(0);
  });

  it("httpSource ends a streamed range at its signal even when the body has all arrived", async () => {
    const data = randomBytes(3 * MiB);
    // A fetch whose answers arrive whole at once and ignore the signal, as a
    // finished body does (Deno does not error a body that has all arrived).
    const fetch = (_url: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const headers = { etag: '"v1"', "content-length": String(data.length) };
      if (init?.method === "HEAD") return Promise.resolve(new Response(null, { headers }));
      const [, a, b] = /bytes=(\d+)-(\d+)/.exec(new Headers(init?.headers).get("range")!)!;
      return Promise.resolve(
        new Response(data.slice(Number(a), Number(b) + 1), {
          status: 206,
          headers: { etag: '"v1"', "content-range": `bytes ${a}-${b}/${data.length}` },
        }),
      );
    };
    const source = await httpSource("http://127.0.0.1:1/object", { fetch });
    const controller = new AbortController();
    const reader = source.stream!(0, data.length, { signal: controller.signal }).getReader();
    expect((await reader.read()).value!.length).toBe(MiB);
    controller.abort(new Error("enough"));
    await expect(reader.read()).rejects.toThrow("enough");
  });

  it("httpSource asks again after a 503 or 429, within its retry policy", async () => {
    const data = randomBytes(64 * 1024);
    let ranged = 0;
    let refused = 0;
    const pushy = (refuse: (n: number) => boolean) =>
      busyFetch(data, (n) => {
        ranged = n;
        if (!refuse(n)) return undefined;
        refused++;
        const headers: Record<string, string> = n % 2 === 0 ? { "retry-after": "0" } : {};
        return new Response("busy", { status: n % 2 ? 429 : 503, headers });
      });
    const retry = { rounds: 4, baseDelay: 1, maxDelay: 5 };
    // The first three range requests are refused: each is asked again.
    const source = await httpSource("http://127.0.0.1:9/object", {
      fetch: pushy((n) => n <= 3),
      retry,
    });
    expect(await collect(openReadable(source, { maxRangeRequests: 2 }))).toEqual(data);
    expect(refused).toBe(3);
    // A server that never stops refusing: a typed, retryable error once the rounds are spent.
    const stubborn = await httpSource("http://127.0.0.1:9/object", {
      fetch: pushy(() => true),
      retry,
    });
    const error = await stubborn.read(0, 10).catch((e) => e);
    expect(error).toBeInstanceOf(ServiceError);
    expect(error.retryable).toBe(true);
    expect(ranged).toBe(4);
  });

  it("httpSource lets go of a streamed body that breaks the length rule", async () => {
    let cancelled = 0;
    const endless = ((_: RequestInfo | URL, init?: RequestInit) => {
      const range = /bytes=(\d+)-(\d+)/.exec(new Headers(init?.headers).get("range") ?? "");
      if (init?.method === "HEAD" || range === null) {
        return Promise.resolve(new Response(null, { headers: { "content-length": "4096" } }));
      }
      // Never ends: only a cancel stops it.
      const body = new ReadableStream<Uint8Array>({
        pull: (controller) => controller.enqueue(new Uint8Array(2000)),
        cancel: () => void cancelled++,
      });
      return Promise.resolve(
        new Response(body, {
          status: 206,
          headers: { "content-range": `bytes ${range[1]}-${range[2]}/4096` },
        }),
      );
    }) as typeof fetch;
    const source = await httpSource("http://127.0.0.1:9/object", { fetch: endless });
    await expect(collect(source.stream!(10, 1010))).rejects.toThrow(/the body had more than/);
    expect(cancelled).toBe(1);
  });

  it("httpSource rejects a ranged body longer or shorter than its Content-Range", async () => {
    const data = randomBytes(4096);
    for (const extra of [1, -1, 100]) {
      const lying = ((_: RequestInfo | URL, init?: RequestInit) => {
        const range = /bytes=(\d+)-(\d+)/.exec(new Headers(init?.headers).get("range") ?? "");
        if (init?.method === "HEAD" || range === null) {
          return Promise.resolve(
            new Response(null, { headers: { "content-length": String(data.length) } }),
          );
        }
        const start = Number(range[1]);
        const end = Number(range[2]) + 1;
        // Node makes this body a byte stream (the BYOB path), Deno does not (the
        // chunk path): between the two runtimes both readers are covered.
        return Promise.resolve(
          new Response(data.slice(start, end + extra), {
            status: 206,
            headers: { "content-range": `bytes ${start}-${end - 1}/${data.length}` },
          }),
        );
      }) as typeof fetch;
      const source = await httpSource("http://127.0.0.1:9/object", { fetch: lying });
      const wrongLength = extra > 0 ? /the body had more than 1000/ : /the body had only 999 of/;
      await expect(source.read(10, 1010)).rejects.toThrow(wrongLength);
      await expect(collect(source.stream!(10, 1010))).rejects.toThrow(wrongLength);
      // Through the reader: a short body fails the read, and the error stays. A
      // long one may hand over its first 1000 bytes (progressive hand-off reads
      // them before the excess arrives), but never other bytes.
      const reader = openReader(source, { start: 10, end: 1010 });
      const got = await reader.read(1000).catch((error: unknown) => error);
      if (extra < 0 || got instanceof Error) {
        expect(got).toBeInstanceOf(Error);
        expect((got as Error).message).toMatch(wrongLength);
        await expect(reader.read(1)).rejects.toThrow(wrongLength);
      } else {
        expect(Buffer.from(got as Uint8Array).equals(Buffer.from(data.subarray(10, 1010)))).toBe(
          true,
        );
      }
      await reader.close();
    }
  });

  it("httpSource learns the size from Content-Range when HEAD is refused", async () => {
    const data = randomBytes(1000);
    server = await startRangeServer(data, { noHead: true });
    const source = await httpSource(server.url);
    expect(source.size).toBe(1000);
    expect(Buffer.from(await source.read(10, 20)).equals(Buffer.from(data.subarray(10, 20)))).toBe(
      true,
    );
  });

  it("httpSource raises RangeNotSupportedError when the server ignores Range", async () => {
    const data = randomBytes(1000);
    server = await startRangeServer(data, { ignoreRange: true });
    const source = await httpSource(server.url);
    await expect(source.read(10, 20)).rejects.toBeInstanceOf(RangeNotSupportedError);
    // The whole object is fine as a 200.
    expect((await source.read(0, 1000)).length).toBe(1000);
  });

  it("httpSource raises SourceChangedError when the object changes mid-read", async () => {
    const data = randomBytes(4 * MiB);
    server = await startRangeServer(data);
    const source = await httpSource(server.url);
    const reader = openReader(source, { maxRangeRequests: 1 });
    await reader.read(MiB);
    server.setData(randomBytes(4 * MiB));
    reader.seek(3 * MiB);
    await expect(reader.read(MiB)).rejects.toBeInstanceOf(SourceChangedError);
    await reader.close();
  });

  it("leaves no HTTP request open after cancel or close, and no unhandled rejection", async () => {
    const data = randomBytes(32 * MiB);
    server = await startRangeServer(data, { bytesPerSecond: 20e6 });
    const stream = openReadable(await httpSource(server.url));
    const reader = stream.getReader();
    await reader.read();
    await reader.read();
    // The prefetch after the second read reaches the server a moment later.
    for (let i = 0; i < 50 && server.open() === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(server.open()).toBeGreaterThan(0);
    await reader.cancel(new Error("done"));
    for (let i = 0; i < 100 && server.open() > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(server.open()).toBe(0);
    const seekable = openReader(await httpSource(server.url));
    await seekable.read(MiB);
    const pending = seekable.read(8 * MiB).catch((e) => e);
    await seekable.close();
    expect(await pending).toBeInstanceOf(Error);
    for (let i = 0; i < 100 && server.open() > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(server.open()).toBe(0);
  });

  it("fileSource and manifestSource read the same bytes", async () => {
    const dir = await tempDir();
    try {
      const data = randomBytes(2 * MiB + 3);
      const path = join(dir.path, "f.bin");
      await writeFile(path, data);
      const file = await fileSource(path);
      // Streamed ranges come in pieces and add up to the range.
      const pieces: Uint8Array[] = [];
      for await (const piece of file.stream!(5, data.length)) pieces.push(piece);
      expect(pieces.map((p) => p.length)).toEqual([MiB, MiB - 2]);
      expect(Buffer.concat(pieces).equals(Buffer.from(data.subarray(5)))).toBe(true);
      // The stream closes the source at its end.
      expect(Buffer.from(await collect(openReadable(file))).equals(Buffer.from(data))).toBe(true);
      await expect(collect(file.stream!(0, 10))).rejects.toThrow(/the source is closed/);
      const client = new BlockClient({ services: [new MemoryStore({ id: "m" })], copies: 1 });
      const sink = client.writable({ blockSize: 300_000 });
      await new Blob([data]).stream().pipeTo(sink);
      const { manifest } = await sink.result;
      const reader = openReader(manifestSource(client, manifest));
      expect(
        Buffer.from((await reader.readAt(299_990, 30))!).equals(
          Buffer.from(data.subarray(299_990, 300_020)),
        ),
      ).toBe(true);
      await reader.close();
    } finally {
      await dir.cleanup();
    }
  });

  it("bytesSource reads and streams a Blob, and its signal ends a streamed range", async () => {
    const data = randomBytes(3 * MiB + 7);
    const source = bytesSource(new Blob([data]));
    expect(source.size).toBe(data.length);
    expect(Buffer.from(await source.read(10, 20)).equals(Buffer.from(data.subarray(10, 20)))).toBe(
      true,
    );
    const streamed = Buffer.from(await collect(source.stream!(5, data.length)));
    expect(streamed.equals(Buffer.from(data.subarray(5)))).toBe(true);
    const controller = new AbortController();
    const reader = source.stream!(0, data.length, { signal: controller.signal }).getReader();
    expect((await reader.read()).done).toBe(false);
    controller.abort(new Error("enough"));
    await expect(reader.read()).rejects.toThrow("enough");
    controller.abort();
    await expect(source.read(0, 1, { signal: controller.signal })).rejects.toThrow("enough");
    const all = openReader(source, { maxRangeRequests: 3 });
    expect(
      Buffer.from((await all.readAt(MiB - 3, 2 * MiB))!).equals(
        Buffer.from(data.subarray(MiB - 3, 3 * MiB - 3)),
      ),
    ).toBe(true);
    await all.close();
  });
});

describe("the concurrency controller in the read path", () => {
  let server: Awaited<ReturnType<typeof startRangeServer>> | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  const readAll = async (reader: ReturnType<typeof openReader>) => {
    const chunks: Uint8Array[] = [];
    for (;;) {
      const chunk = await reader.read(MiB);
      if (chunk === null) break;
      chunks.push(chunk);
    }
    return new Uint8Array(Buffer.concat(chunks));
  };

  it("sends more than 4 requests at once where each connection is slow", async () => {
    const data = randomBytes(32 * MiB);
    // Each connection 8 MB/s: every request added adds goodput.
    server = await startRangeServer(data, { delayMs: 5, bytesPerSecond: 8e6 });
    const reader = openReader(await httpSource(server.url));
    expect(Buffer.from(await readAll(reader)).equals(Buffer.from(data))).toBe(true);
    const stats = reader.stats;
    await reader.close();
    expect(stats.peakConcurrency).toBeGreaterThan(4);
    expect(server.peakOpen()).toBeGreaterThan(4);
    expect(stats.concurrencyChanges[0]).toMatchObject({ concurrency: 4, reason: "start" });
    expect(stats.concurrencyChanges.some((c) => c.reason === "grow")).toBe(true);
    expect(stats.pushbacks).toBe(0);
  });

  it("keeps maxRangeRequests fixed with adaptive: false", async () => {
    const data = randomBytes(16 * MiB);
    server = await startRangeServer(data, { delayMs: 5, bytesPerSecond: 16e6 });
    const reader = openReader(await httpSource(server.url), {
      maxRangeRequests: 3,
      adaptive: false,
    });
    expect(Buffer.from(await readAll(reader)).equals(Buffer.from(data))).toBe(true);
    const stats = reader.stats;
    await reader.close();
    expect(stats.concurrency).toBe(3);
    expect(stats.peakConcurrency).toBe(3);
    expect(stats.concurrencyChanges).toHaveLength(1);
    // The HEAD is over before the reads begin.
    expect(server.peakOpen()).toBeLessThanOrEqual(3);
    expect(() => openReader(bytesSource(data), { adaptive: "no" as unknown as boolean }))
      .toThrow(TypeError);
  });

  it("reads through a server that refuses past 2 requests at once, and sends fewer", async () => {
    const data = randomBytes(24 * MiB);
    // Each connection capped, so requests overlap and the limit is met
    // whatever the machine's load (on bare loopback they could run one by one).
    server = await startRangeServer(data, {
      delayMs: 2,
      maxConcurrent: 2,
      bytesPerSecond: 32e6,
    });
    // The default retry policy: its first wait is short.
    const reader = openReader(await httpSource(server.url));
    expect(Buffer.from(await readAll(reader)).equals(Buffer.from(data))).toBe(true);
    const stats = reader.stats;
    await reader.close();
    expect(server.busy()).toBeGreaterThan(0);
    expect(stats.pushbacks).toBe(server.busy());
    expect(stats.concurrency).toBeLessThan(4);
    expect(stats.concurrencyChanges.some((c) => c.reason === "pushback")).toBe(true);
  });

  it("httpSource tells the read path of each pushback", async () => {
    const data = randomBytes(64 * 1024);
    // The first two range requests are refused.
    const pushy = busyFetch(
      data,
      (n) => n <= 2 ? new Response("busy", { status: 503 }) : undefined,
    );
    const source = await httpSource("http://127.0.0.1:9/object", {
      fetch: pushy,
      retry: { baseDelay: 1, maxDelay: 5 },
    });
    let told = 0;
    const bytes = await source.read(0, 100, { onPushback: () => told++ });
    expect(bytes).toEqual(data.subarray(0, 100));
    expect(told).toBe(2);
  });

  it("stays within maxInFlightBytes however much more requests would pay", async () => {
    const data = randomBytes(48 * MiB);
    let outstanding = 0;
    let peak = 0;
    let largest = 0;
    // Every request takes 5 ms whatever its size and however many are out:
    // goodput grows with every request added, so the controller wants more.
    const source: RangeSource = {
      size: data.length,
      read: async (start, end) => {
        outstanding += end - start;
        peak = Math.max(peak, outstanding);
        largest = Math.max(largest, end - start);
        await new Promise((r) => setTimeout(r, 5));
        outstanding -= end - start;
        return data.subarray(start, end);
      },
    };
    const cap = 6 * MiB;
    const reader = openReader(source, { maxInFlightBytes: cap });
    let n = 0;
    for (;;) {
      const chunk = await reader.read(256 * 1024);
      if (chunk === null) break;
      n += chunk.length;
    }
    await reader.close();
    expect(n).toBe(data.length);
    expect(peak).toBeLessThanOrEqual(Math.max(cap, largest));
  });

  it("reads a manifest in whole blocks, one GET a block", async () => {
    const ranged: string[] = [];
    const whole: string[] = [];
    class CountingStore extends MemoryStore {
      override get(
        locator: Parameters<MemoryStore["get"]>[0],
        options: Parameters<MemoryStore["get"]>[1] = {},
      ) {
        (options.range === undefined ? whole : ranged).push(String(locator));
        return super.get(locator, options);
      }
    }
    const client = new BlockClient({ services: [new CountingStore({ id: "m" })], cache: false });
    const data = randomBytes(9 * MiB);
    const sink = client.writable({ blockSize: 1.5 * MiB });
    await new Blob([data]).stream().pipeTo(sink);
    const { manifest } = await sink.result;
    const reader = client.open(manifest);
    expect(Buffer.from(await readAll(reader)).equals(Buffer.from(data))).toBe(true);
    expect(reader.stats.requests).toBe(6);
    await reader.close();
    expect(ranged).toEqual([]);
    expect(whole).toHaveLength(6);
    // A view that starts inside a block asks for the rest of that block only.
    const view = client.open(manifest, { start: 2 * MiB, end: 4 * MiB });
    expect(Buffer.from(await readAll(view)).equals(Buffer.from(data.subarray(2 * MiB, 4 * MiB))))
      .toBe(true);
    await view.close();
    expect(view.stats.requests).toBe(2);
  });

  it("fetches blocks ahead of a sequential manifest read, whatever the read size", async () => {
    let open = 0;
    let peak = 0;
    let started = 0;
    class SlowStore extends MemoryStore {
      override async get(
        locator: Parameters<MemoryStore["get"]>[0],
        options: Parameters<MemoryStore["get"]>[1] = {},
      ) {
        open++;
        started++;
        peak = Math.max(peak, open);
        try {
          await new Promise((r) => setTimeout(r, 20));
          return await super.get(locator, options);
        } finally {
          open--;
        }
      }
    }
    const client = new BlockClient({ services: [new SlowStore({ id: "s" })], cache: false });
    const data = randomBytes(32 * MiB);
    const sink = client.writable({ blockSize: 4 * MiB });
    await new Blob([data]).stream().pipeTo(sink);
    const { manifest } = await sink.result;
    // 64 KiB reads: the window of reads alone would reach the next 4 MiB
    // block only as this one ends.
    const reader = client.open(manifest);
    const chunks: Uint8Array[] = [];
    let startedInFirstBlock = 0;
    for (;;) {
      const chunk = await reader.read(64 * 1024);
      if (chunk === null) break;
      chunks.push(chunk);
      if (reader.position === 2 * MiB) startedInFirstBlock = started;
    }
    await reader.close();
    expect(Buffer.concat(chunks).equals(Buffer.from(data))).toBe(true);
    expect(reader.stats.requests).toBe(8);
    // Halfway through the first block, the next two are on their way.
    expect(startedInFirstBlock).toBeGreaterThanOrEqual(3);
    expect(peak).toBeGreaterThanOrEqual(2);
  });
});
