import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  BlockCorruptError,
  BlockNotFoundError,
  DeadlineError,
  KeepService,
  ServiceError,
  StoreFullError,
} from "../../mod.ts";
import { closeMidBody, failPuts, stallPuts, startKeepServers } from "../_keep_servers.ts";
import { arrayFrom, randomBytes } from "../_utils.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const FOO = "acbd18db4cc2f85cedef654fccc4a4d8+3";

describe("KeepService", () => {
  let env: Awaited<ReturnType<typeof startKeepServers>>;
  beforeEach(async () => {
    env = await startKeepServers(1, () => undefined, { tokens: ["tok"], adminToken: "adm" });
  });
  afterEach(() => env.close());

  it("puts with the token, desired replicas, classes and a request id; reads replicas and classes", async () => {
    const seen: Headers[] = [];
    env.servers[0]!.fault = (request) => {
      seen.push(request.headers);
      return undefined;
    };
    const service = new KeepService(env.urls[0]!, { token: "tok" });
    const result = await service.put(enc("foo"), {
      copies: 2,
      classes: ["hot", "archive"],
      requestId: "req-x",
    });
    expect(result).toEqual({ locator: FOO, replicas: 1, classes: { default: 1 } });
    expect(seen[0]!.get("authorization")).toBe("Bearer tok");
    expect(seen[0]!.get("x-keep-desired-replicas")).toBe("2");
    expect(seen[0]!.get("x-keep-storage-classes")).toBe("archive, hot");
    expect(seen[0]!.get("x-request-id")).toBe("req-x");
  });

  it("gets, heads, lists and deletes", async () => {
    const service = new KeepService(env.urls[0]!, { token: "tok" });
    const bytes = randomBytes(10_000);
    const { locator } = await service.put(bytes);
    expect(await service.get(locator)).toEqual(bytes);
    expect(await service.get(locator, { range: { start: 100, end: 200 } })).toEqual(
      bytes.subarray(100, 200),
    );
    expect(await service.has(locator)).toBe(true);
    expect(await service.has(FOO)).toBe(false);
    await expect(service.get(FOO)).rejects.toBeInstanceOf(BlockNotFoundError);
    const admin = new KeepService(env.urls[0]!, { token: "adm" });
    expect((await arrayFrom(admin.list())).map((b) => b.locator)).toEqual([locator]);
    expect(await admin.delete(locator)).toBe(true);
    expect(await admin.delete(locator)).toBe(false);
  });

  it("maps statuses: 401/403 permanent, 503 retryable, 507 StoreFullError", async () => {
    const anonymous = new KeepService(env.urls[0]!);
    const denied = await anonymous.put(enc("foo")).catch((e) => e);
    expect(denied).toBeInstanceOf(ServiceError);
    expect([denied.status, denied.retryable]).toEqual([401, false]);
    env.servers[0]!.fault = failPuts(503);
    const busy = await new KeepService(env.urls[0]!, { token: "tok" }).put(enc("foo")).catch((e) =>
      e
    );
    expect([busy.status, busy.retryable]).toEqual([503, true]);
    expect(busy.message).toMatch(/HTTP 503 injected 503/);
    env.servers[0]!.fault = failPuts(507);
    await expect(new KeepService(env.urls[0]!, { token: "tok" }).put(enc("foo"))).rejects
      .toBeInstanceOf(
        StoreFullError,
      );
  });

  it("gives up on a stalled service at the headers deadline", async () => {
    env.servers[0]!.fault = stallPuts();
    const service = new KeepService(env.urls[0]!, { token: "tok", timeouts: { headers: 150 } });
    const error = await service.put(enc("foo")).catch((e) => e);
    expect(error).toBeInstanceOf(DeadlineError);
    expect(error.deadline).toBe("headers");
    expect(error.retryable).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    expect(env.servers[0]!.active).toBe(0);
  });

  it("gives up on a body that stops flowing at the idle deadline", async () => {
    env.servers[0]!.fault = (request) => {
      if (request.method !== "GET") return undefined;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new Uint8Array(10)); // then nothing more
        },
        cancel() {},
      });
      return new Response(body, { headers: { "content-length": "100" } });
    };
    const service = new KeepService(env.urls[0]!, { token: "tok", timeouts: { idle: 150 } });
    const error = await service.get(FOO).catch((e) => e);
    expect(error).toBeInstanceOf(ServiceError);
    expect(error.retryable).toBe(true);
  });

  it("treats a connection dropped mid-body as a retryable network error", async () => {
    env.servers[0]!.fault = closeMidBody();
    const error = await new KeepService(env.urls[0]!, { token: "tok" }).put(enc("foo")).catch((e) =>
      e
    );
    expect(error).toBeInstanceOf(ServiceError);
    expect(error.retryable).toBe(true);
  });

  it("passes the caller's abort reason through unchanged", async () => {
    env.servers[0]!.fault = stallPuts();
    const controller = new AbortController();
    const reason = new Error("mine");
    const pending = new KeepService(env.urls[0]!, { token: "tok" }).put(enc("foo"), {
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(reason), 50);
    await expect(pending).rejects.toBe(reason);
  });

  it("refuses a corrupt block from the service", async () => {
    env.servers[0]!.fault = (request) =>
      request.method === "GET" ? new Response(enc("fox"), { status: 200 }) : undefined;
    await expect(new KeepService(env.urls[0]!, { token: "tok" }).get(FOO)).rejects.toBeInstanceOf(
      BlockCorruptError,
    );
  });

  it("validates its arguments", () => {
    expect(() => new KeepService("ftp://x")).toThrow(TypeError);
    expect(() => new KeepService("not a url")).toThrow(TypeError);
    expect(() => new KeepService("http://x", { type: "mirror" as "disk" })).toThrow(TypeError);
    expect(new KeepService("http://x:1").id).toBe("http://x:1/");
  });
});
