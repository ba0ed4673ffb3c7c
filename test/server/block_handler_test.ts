// The block service's fetch handler, called directly: the whole status table.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { createHash } from "node:crypto";
import {
  BlockCorruptError,
  type BlockStore,
  MemoryStore,
  StoreError,
  StoreFullError,
} from "../../mod.ts";
import {
  type BlockHandlerOptions,
  createBlockHandler,
  type RequestLogEntry,
  signLocator,
} from "../../lib/server/mod.ts";

const FOO = "acbd18db4cc2f85cedef654fccc4a4d8";
const digestOf = (bytes: Uint8Array) => createHash("md5").update(bytes).digest("hex");
const enc = (s: string) => new TextEncoder().encode(s);
const base = "http://blocks.test";

function setup(options: Partial<BlockHandlerOptions> = {}) {
  const store = (options.store as MemoryStore | undefined) ?? new MemoryStore();
  const logs: RequestLogEntry[] = [];
  const handler = createBlockHandler({ store, log: (e) => logs.push(e), ...options });
  const call = (method: string, path: string, init: RequestInit = {}) =>
    handler(new Request(`${base}${path}`, { method, ...init }));
  return { store, handler, call, logs };
}

const auth = (token: string) => ({ authorization: `Bearer ${token}` });

describe("createBlockHandler PUT", () => {
  it("answers 413 to a locator claiming more than the largest block, before taking a buffer", async () => {
    const { call } = setup({ maxBlockSize: 1024 });
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(enc("foo"));
        c.close();
      },
    });
    const res = await call("PUT", `/${FOO}+100000000000`, { body, duplex: "half" } as RequestInit);
    expect(res.status).toBe(413);
    expect(await res.text()).toMatch(/100000000000 bytes exceeds the limit of 1024/);
  });

  it("receives bodies into buffers it reuses, and stores exactly each body's bytes", async () => {
    // A store that records the buffer each put was given: the second PUT of
    // the same size class lands in the first one's memory, and every block
    // still reads back as sent (nothing of a longer earlier body shows).
    const inner = new MemoryStore();
    const buffers: ArrayBufferLike[] = [];
    const store = new Proxy(inner, {
      get(target, key) {
        if (key === "put") {
          return (bytes: Uint8Array, options: Parameters<MemoryStore["put"]>[1]) => {
            buffers.push(bytes.buffer);
            return target.put(bytes, options);
          };
        }
        const value = Reflect.get(target, key);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const { call } = setup({ store });
    const bodies = [100_000, 70_000, 90_000, 1].map((n, i) =>
      new Uint8Array(n).map((_, k) => (k * 7 + i) & 255)
    );
    for (const [i, body] of bodies.entries()) {
      const hex = digestOf(body);
      // Chunked, without a Content-Length, for one of them.
      const init: RequestInit = i === 2
        ? { body: new Blob([body]).stream(), duplex: "half" } as RequestInit
        : { body };
      const res = await call("PUT", `/${hex}`, init);
      expect(res.status).toBe(200);
      expect(await inner.get(`${hex}+${body.length}`)).toEqual(body);
    }
    // A corrupt body in between gives its buffer back too.
    expect((await call("PUT", `/${FOO}`, { body: enc("fox") })).status).toBe(400);
    expect((await call("PUT", `/${digestOf(bodies[1]!)}`, { body: bodies[1]! })).status).toBe(200);
    expect(buffers[1]).toBe(buffers[0]); // 100,000 and 70,000 bytes: both the 128 KiB class
    expect(buffers.at(-1)).toBe(buffers[0]);
  });

  it("stores a block and returns its locator and replica headers", async () => {
    const { call, store } = setup();
    const res = await call("PUT", `/${FOO}`, { body: enc("foo") });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(`${FOO}+3\n`);
    expect(res.headers.get("x-keep-replicas-stored")).toBe("1");
    expect(res.headers.get("x-keep-storage-classes-confirmed")).toBe("default=1");
    expect(res.headers.get("x-request-id")).toMatch(/^req-[0-9a-z]{20}$/);
    expect(await store.get(`${FOO}+3`)).toEqual(enc("foo"));
  });

  it("accepts PUT /<digest>+<size> and echoes X-Request-Id", async () => {
    const { call } = setup();
    const res = await call("PUT", `/${FOO}+3`, {
      body: enc("foo"),
      headers: { "x-request-id": "req-mine" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toBe("req-mine");
  });

  it("answers 400 when the body does not match the digest, storing nothing", async () => {
    const { call, store } = setup();
    const res = await call("PUT", `/${FOO}`, { body: enc("fox") });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/did not match/);
    expect(await store.has(`${FOO}+3`)).toBe(false);
  });

  it("answers 400 when the length does not match the locator's size", async () => {
    const { call } = setup();
    expect((await call("PUT", `/${FOO}+4`, { body: enc("foo") })).status).toBe(400);
  });

  it("answers 413 over maxBlockSize", async () => {
    const { call } = setup({ maxBlockSize: 2 });
    expect((await call("PUT", `/${FOO}`, { body: enc("foo") })).status).toBe(413);
    // Without a Content-Length too (a streamed body).
    const body = new ReadableStream({ start: (c) => (c.enqueue(enc("foo")), c.close()) });
    const res = await call("PUT", `/${FOO}`, { body, duplex: "half" } as RequestInit);
    expect(res.status).toBe(413);
  });

  it("answers 401 without a token and 403 with a wrong one, when tokens are set", async () => {
    const { call } = setup({ tokens: ["good"] });
    expect((await call("PUT", `/${FOO}`, { body: enc("foo") })).status).toBe(401);
    expect((await call("PUT", `/${FOO}`, { body: enc("foo"), headers: auth("bad") })).status).toBe(
      403,
    );
    expect((await call("PUT", `/${FOO}`, { body: enc("foo"), headers: auth("good") })).status).toBe(
      200,
    );
    expect(
      (await call("PUT", `/${FOO}`, {
        body: enc("foo"),
        headers: { authorization: "OAuth2 good" },
      })).status,
    )
      .toBe(200);
  });

  it("answers 507 when the store is full and 503 when it is unavailable", async () => {
    const failing = (error: Error): BlockStore =>
      Object.assign(new MemoryStore(), { put: () => Promise.reject(error) });
    expect(
      (await setup({ store: failing(new StoreFullError("full")) }).call("PUT", `/${FOO}`, {
        body: enc("foo"),
      })).status,
    )
      .toBe(507);
    expect(
      (await setup({ store: failing(new StoreError("down")) }).call("PUT", `/${FOO}`, {
        body: enc("foo"),
      })).status,
    )
      .toBe(503);
    expect(
      (await setup({ store: failing(new Error("bug")) }).call("PUT", `/${FOO}`, {
        body: enc("foo"),
      })).status,
    )
      .toBe(500);
  });

  it("answers 405 when read-only", async () => {
    const res = await setup({ readOnly: true }).call("PUT", `/${FOO}`, { body: enc("foo") });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, HEAD");
  });

  it("refreshes a duplicate", async () => {
    let now = 1000;
    const store = new MemoryStore({ now: () => now });
    const { call } = setup({ store });
    await call("PUT", `/${FOO}`, { body: enc("foo") });
    now = 5000;
    expect((await call("PUT", `/${FOO}`, { body: enc("foo") })).status).toBe(200);
    const [info] = await Array.prototype.concat.call(
      [],
      await (async () => {
        const all = [];
        for await (const b of store.list()) all.push(b);
        return all;
      })(),
    );
    expect(info.mtime).toBe(5000);
  });

  it("answers 400 for a bad Content-Length", async () => {
    const { handler } = setup();
    const req = new Request(`${base}/${FOO}`, { method: "PUT", body: enc("foo") });
    const headers = new Headers(req.headers);
    headers.set("content-length", "-3");
    const res = await handler(
      new Request(`${base}/${FOO}`, { method: "PUT", body: enc("foo"), headers }),
    );
    expect(res.status).toBe(400);
  });
});

describe("createBlockHandler GET and HEAD", () => {
  it("serves a block, a range (206) and HEAD", async () => {
    const { call } = setup();
    await call("PUT", `/${FOO}`, { body: enc("foo") });
    const res = await call("GET", `/${FOO}+3`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("foo");
    const part = await call("GET", `/${FOO}+3`, { headers: { range: "bytes=1-1" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe("bytes 1-1/3");
    expect(await part.text()).toBe("o");
    const suffix = await call("GET", `/${FOO}+3`, { headers: { range: "bytes=-2" } });
    expect(await suffix.text()).toBe("oo");
    const open = await call("GET", `/${FOO}+3`, { headers: { range: "bytes=1-" } });
    expect(await open.text()).toBe("oo");
    expect((await call("GET", `/${FOO}+3`, { headers: { range: "bytes=5-" } })).status).toBe(416);
    expect((await call("GET", `/${FOO}+3`, { headers: { range: "bytes=0-1,2-2" } })).status).toBe(
      416,
    );
    const head = await call("HEAD", `/${FOO}+3`);
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe("3");
  });

  it("answers 404 for a missing block", async () => {
    const { call } = setup();
    expect((await call("GET", `/${FOO}+3`)).status).toBe(404);
    expect((await call("HEAD", `/${FOO}+3`)).status).toBe(404);
  });

  it("answers 502 and logs a block failing its digest, never serving it", async () => {
    const store = Object.assign(new MemoryStore(), {
      get: () => Promise.reject(new BlockCorruptError(`${FOO}+3`, "hashes to something else")),
    });
    const { call, logs } = setup({ store });
    const res = await call("GET", `/${FOO}+3`, { headers: { range: "bytes=0-0" } });
    expect(res.status).toBe(502);
    expect(await res.text()).not.toContain("foo\n");
    expect(logs.at(-1)).toMatchObject({
      status: 502,
      error: expect.stringMatching(/verification/),
    });
  });

  it("requires valid signatures when a signing key is set", async () => {
    const key = "signing-key";
    const { call } = setup({ signingKey: key, tokens: ["tok"], now: () => 1_700_000_000_000 });
    const put = await call("PUT", `/${FOO}`, { body: enc("foo"), headers: auth("tok") });
    const signed = (await put.text()).trim();
    expect(signed).toMatch(new RegExp(`^${FOO}\\+3\\+A[0-9a-f]{40}@[0-9a-f]{8}$`));
    expect((await call("GET", `/${signed}`, { headers: auth("tok") })).status).toBe(200);
    expect((await call("HEAD", `/${signed}`, { headers: auth("tok") })).status).toBe(200);
    // No token, no signature, wrong token, tampered, expired.
    expect((await call("GET", `/${signed}`)).status).toBe(401);
    expect((await call("GET", `/${FOO}+3`, { headers: auth("tok") })).status).toBe(401);
    expect((await call("GET", `/${signed}`, { headers: auth("other") })).status).toBe(403);
    const tampered = signed.replace(
      /@([0-9a-f]{8})$/,
      (_m, e) => `@${(parseInt(e, 16) + 1).toString(16).padStart(8, "0")}`,
    );
    expect((await call("GET", `/${tampered}`, { headers: auth("tok") })).status).toBe(403);
    const expired = signLocator(`${FOO}+3`, {
      key,
      token: "tok",
      ttl: 1209600,
      now: 1_000_000_000_000,
    });
    expect((await call("GET", `/${expired}`, { headers: auth("tok") })).status).toBe(401);
  });
});

describe("createBlockHandler routes", () => {
  it("serves /index to the admin token, ending with a blank line", async () => {
    const { call } = setup({ adminToken: "adm" });
    await call("PUT", `/${FOO}`, { body: enc("foo") });
    expect((await call("GET", "/index")).status).toBe(401);
    expect((await call("GET", "/index", { headers: auth("nope") })).status).toBe(403);
    const res = await call("GET", "/index", { headers: auth("adm") });
    const text = await res.text();
    expect(text).toMatch(new RegExp(`^${FOO}\\+3 \\d+\\n\\n$`));
    expect(await (await call("GET", "/index/acb", { headers: auth("adm") })).text()).toContain(FOO);
    expect(await (await call("GET", "/index/fff", { headers: auth("adm") })).text()).toBe("\n");
    expect((await setup().call("GET", "/index")).status).toBe(403);
  });

  it("deletes with the admin token", async () => {
    const { call } = setup({ adminToken: "adm" });
    await call("PUT", `/${FOO}`, { body: enc("foo") });
    expect((await call("DELETE", `/${FOO}+3`, { headers: auth("x") })).status).toBe(403);
    expect((await call("DELETE", `/${FOO}+3`, { headers: auth("adm") })).status).toBe(200);
    expect((await call("DELETE", `/${FOO}+3`, { headers: auth("adm") })).status).toBe(404);
  });

  it("answers /_health", async () => {
    const res = await setup().call("GET", "/_health");
    expect(await res.json()).toEqual({ health: "OK" });
  });

  const bad: [string, string][] = [
    ["GET", "/"],
    ["GET", "/nonsense"],
    ["GET", `/${FOO}`],
    ["GET", `/${FOO}+x`],
    ["GET", `/${FOO.toUpperCase()}+3`],
    ["GET", "/../../etc/passwd"],
    ["GET", "/%2e%2e/%2e%2e/etc/passwd"],
    ["GET", "/..%2f..%2fetc%2fpasswd"],
    ["GET", `/${FOO}+3/../x`],
    ["PUT", "/index"],
    ["GET", `/acb/${FOO}`],
  ];
  for (const [method, path] of bad) {
    it(`answers 400 or 405 to ${method} ${path}`, async () => {
      const res = await setup().call(method, path, method === "PUT" ? { body: enc("x") } : {});
      expect([400, 405]).toContain(res.status);
      if (path === "/index") expect(res.status).toBe(405);
      else expect(res.status).toBe(400);
    });
  }

  it("answers 405 to wrong methods", async () => {
    const { call } = setup();
    expect((await call("POST", `/${FOO}+3`, { body: enc("x") })).status).toBe(405);
    expect((await call("PATCH", `/${FOO}+3`, { body: enc("x") })).status).toBe(405);
    expect((await call("POST", "/_health")).status).toBe(405);
  });

  it("logs every request with its id", async () => {
    const { call, logs } = setup();
    await call("GET", "/_health", { headers: { "x-request-id": "req-abc" } });
    expect(logs).toEqual([
      expect.objectContaining({
        requestId: "req-abc",
        method: "GET",
        path: "/_health",
        status: 200,
      }),
    ]);
  });

  it("rejects bad options", () => {
    expect(() => createBlockHandler({} as BlockHandlerOptions)).toThrow(TypeError);
    expect(() => createBlockHandler({ store: new MemoryStore(), maxBlockSize: 0 })).toThrow(
      RangeError,
    );
  });
});

describe("createBlockHandler fuzzing (fixed seed, bounded)", () => {
  const BAR = "37b51d194a7513e45b56f6524f2d51f2";
  const method = fc.constantFrom("GET", "HEAD", "PUT", "DELETE", "POST", "OPTIONS", "PATCH");
  const path = fc.oneof(
    fc.constantFrom(
      `/${FOO}`,
      `/${FOO}+3`,
      `/${FOO}+3+A${"0".repeat(40)}@65f00000`,
      `/${BAR}+3+K@zzzzz`,
      "/index",
      `/index/${FOO.slice(0, 3)}`,
      "/",
      "/status.json",
      "/..%2f..%2fetc%2fpasswd",
    ),
    fc.string({ unit: fc.constantFrom(..."/0123456789abcdef+@AK-._%z"), maxLength: 90 }).map(
      (p) => `/${p}`,
    ),
  );
  const header = fc.oneof(
    fc.constant<[string, string]>(["authorization", "Bearer s3cret"]),
    fc.tuple(fc.constant("authorization"), fc.string({ maxLength: 20 })),
    fc.tuple(
      fc.constant("range"),
      fc.string({ unit: fc.constantFrom(..."bytes=0123456789-,"), maxLength: 20 }),
    ),
    fc.tuple(fc.constant("x-keep-storage-classes"), fc.string({ maxLength: 20 })),
    fc.tuple(
      fc.constant("content-length"),
      fc.string({ unit: fc.constantFrom(..."0123456789- "), maxLength: 8 }),
    ),
  );
  const body = fc.oneof(fc.constant(enc("foo")), fc.uint8Array({ maxLength: 64 }));

  it("answers every request with a known status, never 500, and keeps only intact blocks", async () => {
    const expected = new Set([
      200,
      204,
      206,
      400,
      401,
      403,
      404,
      405,
      408,
      411,
      413,
      416,
      422,
      503,
    ]);
    await fc.assert(
      fc.asyncProperty(
        method,
        path,
        fc.array(header, { maxLength: 3 }),
        body,
        async (m, p, hs, b) => {
          const { handler, store } = setup({ tokens: ["s3cret"], adminToken: "s3cret" });
          await store.put(enc("bar"));
          const headers = new Headers();
          for (const [name, value] of hs) {
            // Values a client could not send (control characters) are not the handler's to see.
            if (/^[\t\x20-\x7e]*$/.test(value)) headers.set(name, value);
          }
          if (headers.has("content-length")) headers.delete("content-length");
          const init: RequestInit = { method: m, headers };
          if (m === "PUT" || m === "POST" || m === "PATCH") init.body = b;
          let response: Response;
          try {
            response = await handler(new Request(`${base}${p}`, init));
          } catch {
            return false;
          }
          await response.body?.cancel();
          if (!expected.has(response.status)) return false;
          // Whatever was accepted is stored under its own digest.
          for await (const info of store.list()) {
            const bytes = await store.get(info.locator);
            if (bytes.length !== info.size) return false;
          }
          return true;
        },
      ),
      { seed: 20261202, numRuns: 400 },
    );
  });
});
