// The block server over real HTTP on 127.0.0.1: Deno.serve under Deno, node:http under Node.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createBlockHandler, serve, type Server } from "../../lib/server/mod.ts";
import { FileStore, MemoryStore } from "../../mod.ts";
import { arrayFrom, randomBytes, runtime, tempDir } from "../_utils.ts";
import { rawRequest, startServerProcess, statuses } from "../_server.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex");

describe("serve(createBlockHandler) over HTTP", () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let store: FileStore;
  let server: Server;
  beforeEach(async () => {
    dir = await tempDir();
    store = new FileStore(dir.path);
    server = await serve(createBlockHandler({ store, maxBlockSize: 1 << 20 }));
  });
  afterEach(async () => {
    await server.close();
    await dir.cleanup();
  });

  it("listens on 127.0.0.1 by default", () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  });

  it("round-trips a block with fetch", async () => {
    const bytes = randomBytes(100_000);
    const put = await fetch(`${server.url}${md5(bytes)}`, { method: "PUT", body: bytes });
    expect(put.status).toBe(200);
    const locator = (await put.text()).trim();
    const got = await fetch(`${server.url}${locator}`);
    expect(new Uint8Array(await got.arrayBuffer())).toEqual(bytes);
  });

  it("takes 50 concurrent PUTs of one block", async () => {
    const bytes = randomBytes(256 * 1024);
    const digest = md5(bytes);
    const results = await Promise.all(
      Array.from({ length: 50 }, async () => {
        const res = await fetch(`${server.url}${digest}`, { method: "PUT", body: bytes });
        return [res.status, (await res.text()).trim()] as const;
      }),
    );
    for (const [status, text] of results) {
      expect(status).toBe(200);
      expect(text).toBe(`${digest}+${bytes.length}`);
    }
    expect(await readdir(`${dir.path}/${digest.slice(0, 3)}`)).toEqual([digest]);
  });

  it("refuses oversize headers without falling over", async () => {
    const reply = await rawRequest(server.port, [
      `GET /_health HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(200_000)}\r\n\r\n`,
    ]);
    const [status] = statuses(reply);
    expect(status === undefined || (status >= 400 && status < 500)).toBe(true);
    expect((await fetch(`${server.url}_health`)).status).toBe(200);
  });

  it("answers 400 to a negative Content-Length and 413 to a huge one", async () => {
    const negative = await rawRequest(server.port, [
      `PUT /${
        md5(new Uint8Array(1))
      } HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\nConnection: close\r\n\r\n`,
    ]);
    expect(statuses(negative)[0]).toBe(400);
    const huge = await rawRequest(server.port, [
      `PUT /${
        md5(new Uint8Array(1))
      } HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999\r\nConnection: close\r\n\r\nabc`,
    ]);
    expect(statuses(huge)[0]).toBe(413);
  });

  it("stores nothing from a truncated body", async () => {
    const bytes = randomBytes(1000);
    await rawRequest(server.port, [
      `PUT /${md5(bytes)} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n`,
      bytes.subarray(0, 500),
    ], { timeout: 1000 });
    await new Promise((r) => setTimeout(r, 100));
    expect(await arrayFrom(store.list())).toEqual([]);
    expect((await fetch(`${server.url}_health`)).status).toBe(200);
  });

  it("reads only Content-Length bytes of a longer body; the rest is not a block", async () => {
    const foo = new TextEncoder().encode("foo");
    const reply = await rawRequest(server.port, [
      `PUT /${
        md5(foo)
      } HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nfoo-and-some-trailing-garbage`,
    ]);
    // The parser may reject the trailing bytes before or after answering the PUT
    // (hyper, under Deno, may drop the connection without a word); either way
    // only the declared bytes can become a block.
    const codes = statuses(reply);
    expect(codes.every((c) => c === 200 || (c >= 400 && c < 500))).toBe(true);
    await new Promise((r) => setTimeout(r, 50));
    for (const info of await arrayFrom(store.list())) expect(info.locator).toBe(`${md5(foo)}+3`);
    expect((await fetch(`${server.url}_health`)).status).toBe(200);
  });

  it("answers 400 to path traversal on the wire", async () => {
    for (
      const path of ["/../../etc/passwd", "/..%2f..%2fetc%2fpasswd", "/%2e%2e/%2e%2e/etc/passwd"]
    ) {
      const reply = await rawRequest(server.port, [
        `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      ]);
      expect(statuses(reply)[0]).toBe(400);
    }
  });

  it("shuts down gracefully: in-flight requests finish, new ones are refused", async () => {
    await server.close();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slowStore = Object.assign(Object.create(store), {
      put: async (bytes: Uint8Array, options: object) => {
        await gate;
        return store.put(bytes, options);
      },
    }) as FileStore;
    server = await serve(createBlockHandler({ store: slowStore }));
    const bytes = randomBytes(1000);
    const pending = fetch(`${server.url}${md5(bytes)}`, { method: "PUT", body: bytes });
    await new Promise((r) => setTimeout(r, 100));
    const closing = server.close();
    await new Promise((r) => setTimeout(r, 50));
    release();
    const res = await pending;
    expect(res.status).toBe(200);
    await res.text();
    await closing;
    await expect(fetch(`${server.url}_health`)).rejects.toThrow();
  });
});

describe("stowage serve as a process", () => {
  it("survives kill -9 during 50 concurrent PUTs: no partial block visible, every block verifies", async () => {
    const dir = await tempDir();
    let proc = await startServerProcess(["--dir", dir.path]);
    try {
      const blocks = Array.from({ length: 50 }, (_, i) => randomBytes(512 * 1024 + i));
      const puts = blocks.map((bytes) =>
        fetch(`${proc.url}${md5(bytes)}`, { method: "PUT", body: bytes })
          .then(async (r) => (await r.text(), r.status))
          .catch(() => 0)
      );
      await new Promise((r) => setTimeout(r, 150));
      await proc.stop("SIGKILL");
      const codes = await Promise.all(puts);
      proc = await startServerProcess(["--dir", dir.path]);
      const reopened = new FileStore(dir.path);
      const listed = await arrayFrom(reopened.list());
      // Every 200 answered before the kill is durable.
      const acknowledged = blocks.filter((_, i) => codes[i] === 200).map((b) =>
        `${md5(b)}+${b.length}`
      );
      for (const locator of acknowledged) expect(listed.map((b) => b.locator)).toContain(locator);
      for (const info of listed) {
        const res = await fetch(`${proc.url}${info.locator}`);
        expect(res.status).toBe(200);
        const bytes = new Uint8Array(await res.arrayBuffer());
        expect(`${md5(bytes)}+${bytes.length}`).toBe(info.locator);
      }
      // And the server takes the rest now.
      for (const bytes of blocks.slice(0, 5)) {
        const res = await fetch(`${proc.url}${md5(bytes)}`, { method: "PUT", body: bytes });
        expect(res.status).toBe(200);
        await res.text();
      }
    } finally {
      await proc.stop("SIGKILL");
      await dir.cleanup();
    }
  });

  it("runs the verifier alongside (--crawl verify), saving its state on shutdown", async () => {
    const dir = await tempDir();
    try {
      const proc = await startServerProcess(["--dir", dir.path, "--crawl", "verify"]);
      expect((await fetch(`${proc.url}_health`)).status).toBe(200);
      await proc.stop("SIGTERM");
      const state = JSON.parse(await readFile(`${dir.path}/.crawl-verify.json`, "utf8"));
      expect(state.taskName).toBe("verify");
    } finally {
      await dir.cleanup();
    }
  });

  it("exits cleanly on SIGTERM", async () => {
    const dir = await tempDir();
    try {
      const proc = await startServerProcess(["--dir", dir.path]);
      expect((await fetch(`${proc.url}_health`)).status).toBe(200);
      const code = await proc.stop("SIGTERM");
      expect(proc.stderr()).toContain("shutting down");
      // Deno's child_process reports a child it signalled as killed by the
      // signal even when the child handled it and exited 0.
      if (runtime === "node") expect(code).toBe(0);
    } finally {
      await dir.cleanup();
    }
  });
});

describe("Ctrl-C during stowage put", () => {
  it("exits 130 saying so; the server logs the abort as 499, not 500, and keeps no temp file", async () => {
    const dir = await tempDir();
    const server = await startServerProcess(["--dir", join(dir.path, "blocks")]);
    try {
      const input = join(dir.path, "big.bin");
      // Big enough to be mid-upload when the first progress line comes (a second in).
      const chunk = randomBytes(32 * 1024 * 1024);
      await writeFile(input, new Uint8Array(0));
      const { appendFile } = await import("node:fs/promises");
      for (let i = 0; i < 12; i++) await appendFile(input, chunk.map((b) => b ^ i));
      const command = runtime === "deno"
        ? [process.execPath, "run", "-A", join(root, "cli", "main.ts")]
        : [process.execPath, join(root, "bin", "stowage.js")];
      const put = spawn(command[0]!, [
        ...command.slice(1),
        "put",
        input,
        "--service",
        server.url,
        "--copies",
        "1",
        "--progress",
        "json",
      ], { stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      const exited = new Promise<number | null>((resolve) => put.once("exit", resolve));
      // Interrupted once bytes are on their way.
      await new Promise<void>((resolve) => {
        put.stderr!.on("data", (c: Buffer) => {
          err += c.toString();
          if (/"done":[1-9]/.test(err)) resolve();
        });
        put.once("exit", () => resolve());
      });
      const before = put.exitCode ?? put.signalCode;
      put.kill("SIGINT");
      const code = await exited;
      expect(before, `the put ended before the interrupt (${before}): ${err}`).toBeNull();
      // Deno's node:child_process reports a signalled child as killed, whatever
      // it did: its own words say what happened.
      if (runtime === "node") expect(code).toBe(130);
      expect(err, err).toMatch(/stowage: interrupted\n$/);
      // The server sees the aborts when their sockets close, and removes each
      // temp file after that: wait for it (on a busy machine, a while).
      const leftovers = async () =>
        (await readdir(join(dir.path, "blocks"), { recursive: true }))
          .filter((name) => String(name).includes(".tmp-"));
      for (let waited = 0; waited < 10_000 && (await leftovers()).length > 0; waited += 100) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const logged = [...server.stderr().matchAll(/"status":(\d+)/g)].map((m) => Number(m[1]));
      expect(logged).not.toContain(500);
      expect(await leftovers()).toEqual([]);
    } finally {
      await server.stop();
      await dir.cleanup();
    }
  });
});

describe("the block server's memory budget and body deadline", () => {
  it("bounds PUTs in flight: a stalled body holds its bytes until 408, others wait or get 503", async () => {
    const MiB = 1024 * 1024;
    const server = await serve(
      createBlockHandler({
        store: new FileStore((await tempDir()).path),
        maxPutMemory: 2 * MiB,
        putQueueTimeout: 200,
        bodyIdleTimeout: 600,
      }),
      { port: 0 },
    );
    try {
      const digest = "b6d81b360a5672d80c27430f39153e2c"; // md5 of 1 MiB of zeros
      const head = `PUT /${digest} HTTP/1.1\r\nHost: x\r\nContent-Length: ${MiB}\r\n\r\n`;
      // Two uploads send half their body and stall: the budget is spent.
      const stalled = [0, 1].map(() =>
        rawRequest(server.port, [head, new Uint8Array(MiB / 2)], { endAfter: false, timeout: 5000 })
      );
      await new Promise((r) => setTimeout(r, 100));
      const started = performance.now();
      const busy = await rawRequest(server.port, [head, new Uint8Array(MiB)], { timeout: 5000 });
      expect(statuses(busy)).toEqual([503]);
      expect(busy).toMatch(/retry-after: 2/i);
      expect(performance.now() - started).toBeGreaterThanOrEqual(150);
      // The stalled bodies end at the idle deadline, and give their bytes back.
      for (const reply of await Promise.all(stalled)) expect(statuses(reply)).toEqual([408]);
      // (The socket stays open for the body to be read, and the server closes it.)
      const last = head.replace("Host: x\r\n", "Host: x\r\nConnection: close\r\n");
      const ok = await rawRequest(server.port, [last, new Uint8Array(MiB)], {
        endAfter: false,
        timeout: 5000,
      });
      expect(statuses(ok)).toEqual([200]);
    } finally {
      await server.close();
    }
  });
});

describe("the block server's queue of waiting uploads", () => {
  it("answers 503 at once, closing the connection, past maxQueuedPuts waiting", async () => {
    const MiB = 1024 * 1024;
    const server = await serve(
      createBlockHandler({
        store: new FileStore((await tempDir()).path),
        maxPutMemory: MiB,
        maxQueuedPuts: 1,
        putQueueTimeout: 3000,
        bodyIdleTimeout: 2000,
      }),
      { port: 0 },
    );
    try {
      const digest = "b6d81b360a5672d80c27430f39153e2c"; // md5 of 1 MiB of zeros
      const head = `PUT /${digest} HTTP/1.1\r\nHost: x\r\nContent-Length: ${MiB}\r\n\r\n`;
      // One upload holds the budget (it stalls), one waits for it.
      const held = rawRequest(server.port, [head, new Uint8Array(1000)], {
        endAfter: false,
        timeout: 8000,
      });
      await new Promise((r) => setTimeout(r, 100));
      const waiting = rawRequest(server.port, [head], { endAfter: false, timeout: 8000 });
      await new Promise((r) => setTimeout(r, 100));
      // The next is refused at once, and its connection closed (the client
      // keeps it open: only the server can have closed it).
      const started = performance.now();
      const refused = await rawRequest(server.port, [head, new Uint8Array(1000)], {
        endAfter: false,
        timeout: 8000,
      });
      expect(statuses(refused)).toEqual([503]);
      expect(refused).toMatch(/retry-after: 2/i);
      expect(refused).toMatch(/connection: close/i);
      expect(performance.now() - started).toBeLessThan(2000);
      expect(statuses(await held)).toEqual([408]);
      await waiting;
    } finally {
      await server.close();
    }
  });

  it("refuses a negative maxQueuedPuts", () => {
    expect(() => createBlockHandler({ store: new MemoryStore(), maxQueuedPuts: -1 })).toThrow(
      RangeError,
    );
  });
});

describe("request bodies the handler leaves unread", () => {
  it("closes the connection rather than drain a big refused body", async () => {
    const MiB = 1024 * 1024;
    const server = await serve(createBlockHandler({ store: new MemoryStore(), tokens: ["t"] }), {
      port: 0,
    });
    try {
      // 64 MiB announced, 1 MiB sent, the socket kept open: draining the
      // rest would wait for bytes that never come.
      const head = `PUT /b6d81b360a5672d80c27430f39153e2c HTTP/1.1\r\nHost: x\r\nContent-Length: ${
        64 * MiB
      }\r\n\r\n`;
      const started = performance.now();
      const reply = await rawRequest(server.port, [head, new Uint8Array(MiB)], {
        endAfter: false,
        timeout: 6000,
      });
      expect(statuses(reply)).toEqual([401]);
      expect(reply).toMatch(/connection: close/i);
      expect(performance.now() - started).toBeLessThan(4000);
    } finally {
      await server.close();
    }
  });

  it("drains a small refused body and keeps the connection for the next request", async () => {
    const server = await serve(createBlockHandler({ store: new MemoryStore(), tokens: ["t"] }), {
      port: 0,
    });
    try {
      const put =
        "PUT /b6d81b360a5672d80c27430f39153e2c HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n";
      const health = "GET /_health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
      const reply = await rawRequest(server.port, [put, new Uint8Array(1000), health], {
        endAfter: false,
        timeout: 5000,
      });
      expect(statuses(reply)).toEqual([401, 200]);
    } finally {
      await server.close();
    }
  });
});

describe("stowage serve's upload limits", () => {
  it("takes --max-put-memory, --put-queue-timeout and --body-idle-timeout", async () => {
    const dir = await tempDir();
    const server = await startServerProcess([
      "--dir",
      dir.path,
      "--max-put-memory",
      "1M",
      "--put-queue-timeout",
      "0",
      "--body-idle-timeout",
      "1",
    ]);
    try {
      const MiB = 1024 * 1024;
      const head =
        `PUT /b6d81b360a5672d80c27430f39153e2c HTTP/1.1\r\nHost: x\r\nContent-Length: ${MiB}\r\n\r\n`;
      const stalled = rawRequest(server.port, [head, new Uint8Array(1000)], {
        endAfter: false,
        timeout: 5000,
      });
      await new Promise((r) => setTimeout(r, 300));
      const busy = await rawRequest(server.port, [head], { endAfter: false, timeout: 5000 });
      expect(statuses(busy)).toEqual([503]);
      expect(statuses(await stalled)).toEqual([408]);
    } finally {
      await server.stop();
      await dir.cleanup();
    }
  });
});

describe("serve deadlines", () => {
  /** Opens a connection, sends `text` a byte every `gapMs`, resolves with when it closed (ms after opening). */
  const trickle = (port: number, text: string, gapMs: number, giveUpMs: number) =>
    new Promise<{ closedAfter: number; sent: number; reply: string }>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      const opened = performance.now();
      let sent = 0;
      let reply = "";
      socket.on("error", () => {});
      socket.on("data", (c: Buffer) => (reply += c.toString("latin1")));
      const timer = setInterval(() => {
        if (sent < text.length && !socket.destroyed) socket.write(text[sent++]!);
      }, gapMs);
      const stop = setTimeout(() => socket.destroy(), giveUpMs);
      socket.on("close", () => {
        clearInterval(timer);
        clearTimeout(stop);
        resolve({ closedAfter: performance.now() - opened, sent, reply });
      });
    });

  it("closes connections whose headers trickle in past headersTimeout, and serves others meanwhile", async () => {
    const server = await serve(createBlockHandler({ store: new MemoryStore() }), {
      headersTimeout: 600,
    });
    try {
      const port = Number(new URL(server.url).port);
      const headers = "GET /index HTTP/1.1\r\nHost: x\r\nX-Slow: " + "a".repeat(200);
      const slow = Array.from({ length: 20 }, () => trickle(port, headers, 50, 10_000));
      // A well-behaved client is served while they trickle.
      expect((await fetch(`${server.url}index`)).status).not.toBe(500);
      for (const { closedAfter, sent } of await Promise.all(slow)) {
        // Closed by the server (Node's own default waits 60 s), still sending.
        expect(closedAfter).toBeLessThan(3_000);
        expect(sent).toBeLessThan(headers.length);
      }
    } finally {
      await server.close();
    }
  });

  it("closes a keep-alive connection idle past idleTimeout", async () => {
    const server = await serve(createBlockHandler({ store: new MemoryStore() }), {
      idleTimeout: 300,
    });
    try {
      const port = Number(new URL(server.url).port);
      const result = await new Promise<{ closedAfter: number; reply: string }>((resolve) => {
        const socket = connect(port, "127.0.0.1");
        let reply = "";
        let answered = 0;
        socket.on("error", () => {});
        socket.on("data", (c: Buffer) => {
          reply += c.toString("latin1");
          if (answered === 0 && reply.includes("\r\n\r\n")) answered = performance.now();
        });
        const stop = setTimeout(() => socket.destroy(), 10_000);
        socket.on("close", () => {
          clearTimeout(stop);
          resolve({ closedAfter: performance.now() - answered, reply });
        });
        socket.write("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
      });
      expect(result.reply).toMatch(/^HTTP\/1\.1 \d{3}/);
      // (Node's own default is 5 s.)
      expect(result.closedAfter).toBeLessThan(2_000);
    } finally {
      await server.close();
    }
  });

  it("refuses deadlines that are not positive integers", async () => {
    const handler = createBlockHandler({ store: new MemoryStore() });
    await expect(serve(handler, { headersTimeout: 0 })).rejects.toThrow(RangeError);
    await expect(serve(handler, { idleTimeout: 1.5 })).rejects.toThrow(RangeError);
  });
});
