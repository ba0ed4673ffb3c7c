import { afterEach, describe, expect, it } from "vitest";
import {
  BlockClient,
  BlockNotFoundError,
  BlockReadError,
  FileStore,
  InsufficientReplicasError,
  KeepService,
  MemoryStore,
  ServiceError,
} from "../../mod.ts";
import { rendezvousOrder } from "../../lib/client/rendezvous.ts";
import { failPuts, stallPuts, startKeepServers } from "../_keep_servers.ts";
import { randomBytes, tempDir } from "../_utils.ts";

const fast = { rounds: 3, baseDelay: 1, maxDelay: 5 };
const enc = (s: string) => new TextEncoder().encode(s);
let env: Awaited<ReturnType<typeof startKeepServers>> | undefined;
afterEach(async () => {
  await env?.close();
  env = undefined;
});

function client(urls: string[], extra: Partial<ConstructorParameters<typeof BlockClient>[0]> = {}) {
  return new BlockClient({ services: urls, retry: fast, ...extra });
}

describe("BlockClient.put", () => {
  it("writes copies to the first services in rendezvous order, in parallel", async () => {
    env = await startKeepServers(4);
    // Hold each PUT until two are in flight, to prove they run in parallel.
    let waiting: (() => void)[] = [];
    for (const s of env.servers) {
      s.fault = async (request) => {
        if (request.method !== "PUT") return undefined;
        await new Promise<void>((resolve) => {
          waiting.push(resolve);
          if (waiting.length === 2) {
            for (const w of waiting) w();
            waiting = [];
          }
          setTimeout(resolve, 2000);
        });
        return undefined;
      };
    }
    const c = client(env.urls);
    const started = performance.now();
    const result = await c.put(enc("foo"));
    expect(performance.now() - started).toBeLessThan(1500);
    expect(result).toEqual({
      locator: "acbd18db4cc2f85cedef654fccc4a4d8+3",
      replicas: 2,
      classes: { default: 2 },
      overReplicated: 0,
    });
    const order = rendezvousOrder("acbd18db4cc2f85cedef654fccc4a4d8", c.services).map((s) => s.id);
    const holders = env.servers.filter((s) => (s.requests.PUT ?? 0) > 0).map((s) => s.url);
    expect(holders.sort()).toEqual(order.slice(0, 2).sort());
  });

  for (const status of [408, 409, 423, 429, 500, 502, 503, 504]) {
    it(`retries HTTP ${status} at the same service in a later round`, async () => {
      env = await startKeepServers(2, () => failPuts(status, (n) => n === 1));
      const result = await client(env.urls).put(enc("foo"));
      expect(result.replicas).toBe(2);
      expect(env.servers.map((s) => s.requests.PUT)).toEqual([2, 2]);
    });
  }

  for (const status of [400, 401, 403, 404, 413, 422, 501, 507]) {
    it(`treats HTTP ${status} as permanent for that service and moves on`, async () => {
      env = await startKeepServers(3);
      const c = client(env.urls);
      const first = rendezvousOrder("acbd18db4cc2f85cedef654fccc4a4d8", c.services)[0]!.id;
      const bad = env.servers.find((s) => s.url === first)!;
      bad.fault = failPuts(status);
      const result = await c.put(enc("foo"));
      expect(result.replicas).toBe(2);
      expect(bad.requests.PUT).toBe(1);
      expect(env.servers.filter((s) => s !== bad).every((s) => s.requests.PUT === 1)).toBe(true);
    });
  }

  it("fails with InsufficientReplicasError listing every service's last word", async () => {
    env = await startKeepServers(3, (i) => (i === 0 ? undefined : failPuts(i === 1 ? 507 : 503)));
    const error = await client(env.urls).put(enc("foo")).catch((e) => e);
    expect(error).toBeInstanceOf(InsufficientReplicasError);
    expect([error.wanted, error.achieved]).toEqual([2, 1]);
    expect(error.services.map((s: { status?: number }) => s.status).sort()).toEqual([
      200,
      503,
      507,
    ]);
    expect(error.message).toMatch(/wanted 2 copies but 1 confirmed after 3 round/);
    // 507 is permanent (asked once), 503 retryable (asked every round).
    expect(env.servers[1]!.requests.PUT).toBe(1);
    expect(env.servers[2]!.requests.PUT).toBe(3);
  });

  it("remembers replicas stored in earlier rounds", async () => {
    env = await startKeepServers(3, (i) => (i === 2 ? failPuts(503, (n) => n === 1) : undefined));
    const result = await client(env.urls).put(enc("foo"), { copies: 3 });
    expect(result.replicas).toBe(3);
    expect(env.servers.map((s) => s.requests.PUT)).toEqual([1, 1, 2]);
  });

  it("writes through a proxy one at a time, trusting X-Keep-Replicas-Stored", async () => {
    const proxyFault = (request: Request) =>
      request.method === "PUT"
        ? request.arrayBuffer().then(() =>
          new Response("acbd18db4cc2f85cedef654fccc4a4d8+3\n", {
            headers: { "x-keep-replicas-stored": "2" },
          })
        )
        : undefined;
    env = await startKeepServers(2, () => proxyFault);
    const services = env.urls.map((url) => new KeepService(url, { type: "proxy" }));
    const result = await new BlockClient({ services, retry: fast }).put(enc("foo"));
    expect(result.replicas).toBe(2);
    expect(env.servers.map((s) => s.requests.PUT ?? 0).sort()).toEqual([0, 1]);
  });

  it("counts and reports over-replication", async () => {
    env = await startKeepServers(
      1,
      () => (request: Request) =>
        request.method === "PUT"
          ? request.arrayBuffer().then(() =>
            new Response("", { headers: { "x-keep-replicas-stored": "3" } })
          )
          : undefined,
    );
    const c = new BlockClient({
      services: [new KeepService(env.urls[0]!, { type: "proxy" })],
      retry: fast,
    });
    const result = await c.put(enc("foo"));
    expect(result.overReplicated).toBe(1);
    expect(c.stats.overReplicated).toBe(1);
  });

  it("tracks storage classes from the confirmed header", async () => {
    const confirm = (classes: string) => (request: Request) =>
      request.method === "PUT"
        ? request.arrayBuffer().then(() =>
          new Response("", { headers: { "x-keep-storage-classes-confirmed": classes } })
        )
        : undefined;
    env = await startKeepServers(3);
    const c = client(env.urls, { copies: 1 });
    const order = rendezvousOrder("acbd18db4cc2f85cedef654fccc4a4d8", c.services).map((s) => s.id);
    const byUrl = (url: string) => env!.servers.find((s) => s.url === url)!;
    byUrl(order[0]!).fault = confirm("cold=1");
    byUrl(order[1]!).fault = confirm("hot=1");
    byUrl(order[2]!).fault = confirm("hot=1");
    const result = await c.put(enc("foo"), { classes: ["hot"] });
    expect(result.classes).toEqual({ cold: 1, hot: 1 });
    expect(result.replicas).toBe(2);
    expect(result.overReplicated).toBe(1);
    expect(byUrl(order[2]!).requests.PUT).toBeUndefined();
  });

  it("falls back to counting copies, saying so once, when servers never confirm classes", async () => {
    const warnings: string[] = [];
    const c = new BlockClient({
      services: [new MemoryStore({ id: "a" }), new MemoryStore({ id: "b" })],
      retry: fast,
      onWarning: (m) => warnings.push(m),
    });
    expect((await c.put(enc("foo"), { classes: ["hot"] })).replicas).toBe(2);
    expect((await c.put(enc("bar"), { classes: ["hot"] })).replicas).toBe(2);
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toMatch(/does not confirm storage classes/);
  });

  it("aborts every PUT in flight", async () => {
    env = await startKeepServers(2, () => stallPuts());
    const controller = new AbortController();
    const reason = new Error("stop");
    const pending = client(env.urls).put(enc("foo"), { signal: controller.signal });
    await new Promise((r) => setTimeout(r, 100));
    expect(env.servers.reduce((n, s) => n + s.active, 0)).toBe(2);
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    await new Promise((r) => setTimeout(r, 100));
    expect(env.servers.reduce((n, s) => n + s.active, 0)).toBe(0);
  });

  it("uses FileStores given as paths, and skips I/O for the empty block and copies 0", async () => {
    const a = await tempDir();
    const b = await tempDir();
    try {
      const c = new BlockClient({ services: [a.path, b.path], retry: fast });
      expect(c.services.every((s) => s instanceof FileStore)).toBe(true);
      const { locator, replicas } = await c.put(randomBytes(1000));
      expect(replicas).toBe(2);
      expect(await c.replicas(locator)).toBe(2);
      expect((await c.put(new Uint8Array())).replicas).toBe(2);
      expect((await c.put(enc("x"), { copies: 0 })).replicas).toBe(0);
    } finally {
      await a.cleanup();
      await b.cleanup();
    }
  });

  it("validates options", () => {
    expect(() => new BlockClient({} as never)).toThrow(TypeError);
    expect(() => new BlockClient({ services: ["s3://bucket"] })).toThrow(TypeError);
    expect(() => new BlockClient({ services: [], copies: -1 })).toThrow(RangeError);
    expect(() => new BlockClient({ services: [new MemoryStore(), new MemoryStore()] })).toThrow(
      /twice/,
    );
    expect(() => new BlockClient({ services: [], maxPutRequests: 0 })).toThrow(RangeError);
  });

  it("fails clearly with no writable service", async () => {
    const error = await new BlockClient({ services: [], retry: fast }).put(enc("foo")).catch((e) =>
      e
    );
    expect(error).toBeInstanceOf(InsufficientReplicasError);
    expect(error.message).toMatch(/no writable service/);
  });
});

describe("BlockClient.get", () => {
  it("reads from the services in order, skipping a corrupt replica", async () => {
    env = await startKeepServers(2);
    const c = client(env.urls);
    const { locator } = await c.put(enc("foo"));
    const first = rendezvousOrder("acbd18db4cc2f85cedef654fccc4a4d8", c.services)[0]!.id;
    env.servers.find((s) => s.url === first)!.fault = (r) =>
      r.method === "GET" ? new Response(enc("fox")) : undefined;
    expect(await c.get(locator)).toEqual(enc("foo"));
    expect(c.stats.corruptReplicas).toBe(1);
  });

  it("asks a replica again in a later round after it sent corrupt bytes", async () => {
    env = await startKeepServers(2);
    const c = client(env.urls);
    const { locator } = await c.put(enc("foo"));
    // Both replicas send damaged bytes once (a transient fault), then the truth.
    for (const server of env.servers) {
      server.fault = (r, count) =>
        r.method === "GET" && count === 1 ? new Response(enc("fox")) : undefined;
    }
    expect(await c.get(locator)).toEqual(enc("foo"));
    expect(c.stats.corruptReplicas).toBe(2);
    // Damage that does not clear fails with every cause listed, once the budget is spent.
    for (const server of env.servers) {
      server.fault = (r) => (r.method === "GET" ? new Response(enc("fox")) : undefined);
    }
    const error = await client(env.urls).get(locator).catch((e) => e);
    expect(error).toBeInstanceOf(BlockReadError);
    expect(error.message).toMatch(/hashing to/);
  });

  it("raises BlockNotFoundError only when every service says not found", async () => {
    env = await startKeepServers(2);
    await expect(client(env.urls).get("acbd18db4cc2f85cedef654fccc4a4d8+3")).rejects.toBeInstanceOf(
      BlockNotFoundError,
    );
    env.servers[0]!.fault = (
      r,
    ) => (r.method === "GET" ? new Response("boom", { status: 500 }) : undefined);
    const error = await client(env.urls).get("acbd18db4cc2f85cedef654fccc4a4d8+3").catch((e) => e);
    expect(error).toBeInstanceOf(BlockReadError);
    expect(error.services.length).toBe(2);
    expect(error.message).toMatch(/HTTP 500/);
  });
});

describe("BlockClient against signing block servers", () => {
  it("stores blocks, keeps the signed locators in the manifest, and reads them back with the token", async () => {
    env = await startKeepServers(3, () => undefined, { tokens: ["tok"], signingKey: "key" });
    const client = new BlockClient({ services: env.urls, token: "tok", retry: fast, cache: false });
    const data = randomBytes(300_000);
    const sink = client.writable({ blockSize: 100_000 });
    await new Blob([data]).stream().pipeTo(sink);
    const { manifest } = await sink.result;
    for (const locator of manifest.blocks()) {
      expect(locator).toMatch(/\+A[0-9a-f]{40}@[0-9a-f]{8}$/);
    }
    const back = new Uint8Array(await new Response(client.readable(manifest)).arrayBuffer());
    expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
    // Without the signature the servers refuse: 401 everywhere is not "not found".
    const stripped = manifest.blocks()[0]!.split("+A")[0]!;
    await expect(client.get(stripped)).rejects.toBeInstanceOf(BlockReadError);
    // With another token the signature does not verify: 403 everywhere reads as not found.
    const stranger = new BlockClient({
      services: env.urls,
      token: "other",
      retry: fast,
      cache: false,
    });
    await expect(stranger.get(manifest.blocks()[0]!)).rejects.toBeInstanceOf(BlockNotFoundError);
  });

  it("tells a reader of each pushback (503, 429) it asks again after", async () => {
    let refusals = 2;
    class BusyStore extends MemoryStore {
      override get(
        locator: Parameters<MemoryStore["get"]>[0],
        options: Parameters<MemoryStore["get"]>[1] = {},
      ) {
        if (refusals-- > 0) {
          const status = refusals === 1 ? 503 : 429;
          return Promise.reject(new ServiceError(this.id, "busy", { status, retryable: true }));
        }
        return super.get(locator, options);
      }
    }
    const store = new BusyStore({ id: "busy" });
    const { locator } = await store.put(new TextEncoder().encode("hello"));
    for (const cache of [false, undefined] as const) {
      refusals = 2;
      const client = new BlockClient({
        services: [store],
        retry: { rounds: 3, baseDelay: 1 },
        ...(cache === false ? { cache } : {}),
      });
      let told = 0;
      const bytes = await client.get(locator, { onPushback: () => told++ });
      expect(new TextDecoder().decode(bytes)).toBe("hello");
      expect(told).toBe(2);
    }
  });
});
