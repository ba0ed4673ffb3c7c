import { Buffer } from "node:buffer";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  AuthError,
  BlockClient,
  ChecksumMismatchError,
  FileStore,
  KeyNotFoundError,
  type Manifest,
  MemoryKeyIndex,
  MemoryStore,
} from "../../mod.ts";
import { parseNetrc } from "../../lib/platform/_netrc.ts";
import { type Origin, startOrigin } from "../_origin_server.ts";
import { randomBytes, tempDir } from "../_utils.ts";

const MiB = 1 << 20;

describe("BlockClient.stage", () => {
  let origin: Origin;
  let warnings: string[];
  beforeEach(async () => {
    origin = await startOrigin();
    warnings = [];
  });
  afterEach(() => origin.close());

  function client(store: MemoryStore | FileStore = new MemoryStore()): BlockClient {
    return new BlockClient({ services: [store], onWarning: (m) => warnings.push(m) });
  }
  const options = {
    blockSize: MiB,
    retry: { baseDelay: 10 },
    onWarning: (m: string) => warnings.push(m),
  };
  async function read(c: BlockClient, manifest: Manifest): Promise<Buffer> {
    return Buffer.from(await new Response(c.readable(manifest)).arrayBuffer());
  }

  it("stores a URL once: a second stage of the unchanged object moves no body", async () => {
    const body = randomBytes(6 * MiB + 123);
    origin.set("/data.bin", body);
    const c = client();
    const first = await c.stage(origin.url("/data.bin"), options);
    expect(first.fetched).toBe(body.length);
    expect(first.reused).toBe(false);
    expect(first.manifest.files[0]!.name).toBe("data.bin");
    expect((await read(c, first.manifest)).equals(body)).toBe(true);
    const sent = origin.bodyBytes;
    // The check is retried like any request: a 503, then a 304.
    origin.behaviour.fail = [503];
    const second = await c.stage(origin.url("/data.bin"), options);
    expect(warnings.join("\n")).toMatch(/HTTP 503.*asking again/);
    expect(second.reused).toBe(true);
    expect(second.fetched).toBe(0);
    expect(origin.bodyBytes).toBe(sent);
    expect(origin.requests.at(-1)!.conditional).toBe(true);
    expect(second.manifest.toText()).toBe(first.manifest.toText());
    expect(second.entry.accessed).toBeGreaterThanOrEqual(first.entry.accessed);
    expect(second.entry.validators?.contentLength).toBe(body.length);
  });

  it("fetches a changed object again; the old manifest stays readable", async () => {
    const v1 = randomBytes(3 * MiB);
    const v2 = randomBytes(2 * MiB + 5);
    origin.set("/x", v1);
    const c = client();
    const first = await c.stage(origin.url("/x"), options);
    origin.set("/x", v2);
    const second = await c.stage(origin.url("/x"), options);
    expect(second.reused).toBe(false);
    expect(second.fetched).toBe(v2.length);
    expect((await read(c, second.manifest)).equals(v2)).toBe(true);
    expect((await read(c, first.manifest)).equals(v1)).toBe(true);
    expect((await c.keyIndex!.get(second.key))!.manifest).toBe(second.manifest.toText());
  });

  it("answers offline from the index, and refreshes in full on request", async () => {
    const body = randomBytes(MiB + 1);
    origin.set("/o", body);
    const c = client();
    const url = origin.url("/o");
    await expect(c.stage(url, { ...options, offline: true })).rejects.toBeInstanceOf(
      KeyNotFoundError,
    );
    await c.stage(url, options);
    const requests = origin.requests.length;
    const offline = await c.stage(url, { ...options, offline: true });
    expect(offline.reused).toBe(true);
    expect(origin.requests.length).toBe(requests);
    const refreshed = await c.stage(url, { ...options, refresh: true });
    expect(refreshed.fetched).toBe(body.length);
    expect(origin.requests.at(-1)!.conditional).toBe(false);
  });

  it("resumes after a dropped connection, moving at most the object plus one block", async () => {
    const body = randomBytes(8 * MiB);
    origin.set("/drop", body);
    origin.behaviour.dropAt = [3 * MiB + 77_777];
    const c = client();
    const result = await c.stage(origin.url("/drop"), options);
    expect((await read(c, result.manifest)).equals(body)).toBe(true);
    expect(origin.bodyBytes).toBeLessThanOrEqual(body.length + MiB);
    expect(result.fetched).toBeLessThanOrEqual(origin.bodyBytes);
    expect(result.fetched).toBeGreaterThanOrEqual(body.length);
    expect(origin.requests.some((r) => r.range !== undefined && r.ifRange !== undefined)).toBe(
      true,
    );
    expect(warnings.join("\n")).toMatch(/resuming/);
  });

  it("resumes against Last-Modified when there is no ETag", async () => {
    origin.behaviour.etags = false;
    const body = randomBytes(4 * MiB);
    origin.set("/lm", body);
    origin.behaviour.dropAt = [MiB + 10];
    const c = client();
    const result = await c.stage(origin.url("/lm"), options);
    expect((await read(c, result.manifest)).equals(body)).toBe(true);
    expect(origin.requests[1]!.ifRange).toMatch(/GMT$/);
    expect(origin.bodyBytes).toBeLessThanOrEqual(body.length + MiB);
  });

  it("never stitches two versions: an object that changes mid-fetch starts over", async () => {
    const v1 = randomBytes(6 * MiB);
    const v2 = randomBytes(5 * MiB + 3);
    origin.set("/moving", v1);
    origin.behaviour.changeAt = { after: 2 * MiB + 100, body: v2 };
    const c = client();
    const result = await c.stage(origin.url("/moving"), options);
    expect(result.restarts).toBeGreaterThanOrEqual(1);
    expect((await read(c, result.manifest)).equals(v2)).toBe(true);
    expect(warnings.join("\n")).toMatch(/changed/);
  });

  it("never stitches, even from a server that ignores If-Range", async () => {
    origin.behaviour.ignoreIfRange = true;
    const v1 = randomBytes(6 * MiB);
    const v2 = randomBytes(6 * MiB);
    origin.set("/broken", v1);
    origin.behaviour.changeAt = { after: 3 * MiB + 5, body: v2 };
    const c = client();
    const result = await c.stage(origin.url("/broken"), options);
    expect((await read(c, result.manifest)).equals(v2)).toBe(true);
    expect(warnings.join("\n")).toMatch(/Content-Range or validators moved/);
  });

  it("starts over after a drop when the origin gives no validator to resume against", async () => {
    origin.behaviour.etags = false;
    origin.behaviour.noLastModified = true;
    const body = randomBytes(3 * MiB);
    origin.set("/plain", body);
    origin.behaviour.dropAt = [MiB + 100];
    const c = client();
    const result = await c.stage(origin.url("/plain"), options);
    expect((await read(c, result.manifest)).equals(body)).toBe(true);
    expect(result.restarts).toBe(1);
    expect(warnings.join("\n")).toMatch(/no strong ETag or Last-Modified/);
    expect(origin.requests.every((r) => r.range === undefined)).toBe(true);
  });

  it("starts over, with a warning, when the server does not serve ranges", async () => {
    origin.behaviour.ranges = false;
    const body = randomBytes(4 * MiB);
    origin.set("/noranges", body);
    origin.behaviour.dropAt = [2 * MiB + 5];
    const c = client();
    const result = await c.stage(origin.url("/noranges"), options);
    expect((await read(c, result.manifest)).equals(body)).toBe(true);
    expect(warnings.join("\n")).toMatch(/ignored a Range request/);
    expect(result.restarts).toBe(1);
  });

  it("resumes an aborted stage on the next call, from the blocks it recorded", async () => {
    const body = randomBytes(8 * MiB);
    origin.set("/big", body);
    origin.behaviour.rate = 16 * MiB;
    const c = client();
    const controller = new AbortController();
    let stored = 0;
    const first = c.stage(origin.url("/big"), {
      ...options,
      signal: controller.signal,
      onProgress: (p) => {
        stored = p.bytesStored;
        if (stored >= 4 * MiB) controller.abort(new Error("stop"));
      },
    });
    await expect(first).rejects.toThrow("stop");
    const partial = (await c.keyIndex!.get(origin.url("/big")))!.partial!;
    const recorded = partial.pieces.reduce((n, p) => n + p.size, 0);
    expect(recorded).toBeGreaterThan(0);
    origin.behaviour.rate = 0;
    const before = origin.bodyBytes;
    const second = await c.stage(origin.url("/big"), options);
    expect(second.resumed).toBe(true);
    expect(origin.bodyBytes - before).toBeLessThanOrEqual(body.length - recorded + MiB);
    expect((await read(c, second.manifest)).equals(body)).toBe(true);
    expect((await c.keyIndex!.get(second.key))!.partial).toBeUndefined();
  });

  it("resumes an interrupted refetch of a changed object, keeping the old manifest meanwhile", async () => {
    const v1 = randomBytes(2 * MiB);
    const v2 = randomBytes(8 * MiB);
    origin.set("/versions", v1);
    const c = client();
    const url = origin.url("/versions");
    const first = await c.stage(url, options);
    origin.set("/versions", v2);
    origin.behaviour.rate = 16 * MiB;
    const controller = new AbortController();
    await expect(c.stage(url, {
      ...options,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.bytesStored >= 4 * MiB) controller.abort(new Error("stop"));
      },
    })).rejects.toThrow("stop");
    const entry = (await c.keyIndex!.get(url))!;
    expect(entry.manifest).toBe(first.manifest.toText());
    expect(entry.partial!.pieces.length).toBeGreaterThan(0);
    const offline = await c.stage(url, { ...options, offline: true });
    expect((await read(c, offline.manifest)).equals(v1)).toBe(true);
    origin.behaviour.rate = 0;
    const recorded = entry.partial!.pieces.reduce((n, p) => n + p.size, 0);
    const before = origin.bodyBytes;
    const resumed = await c.stage(url, options);
    expect(resumed.resumed).toBe(true);
    expect(origin.bodyBytes - before).toBeLessThanOrEqual(v2.length - recorded + MiB);
    expect((await read(c, resumed.manifest)).equals(v2)).toBe(true);
  });

  it("does not resume pieces named with another digest algorithm", async () => {
    const body = randomBytes(6 * MiB);
    origin.set("/algo", body);
    origin.behaviour.rate = 16 * MiB;
    const store = new MemoryStore();
    const index = new MemoryKeyIndex();
    const sha = new BlockClient({ services: [store], keyIndex: index, algorithm: "sha256" });
    const controller = new AbortController();
    await expect(sha.stage(origin.url("/algo"), {
      ...options,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.bytesStored >= 3 * MiB) controller.abort(new Error("stop"));
      },
    })).rejects.toThrow("stop");
    expect((await index.get(origin.url("/algo")))!.partial!.pieces.length).toBeGreaterThan(0);
    origin.behaviour.rate = 0;
    const md5 = new BlockClient({ services: [store], keyIndex: index });
    const result = await md5.stage(origin.url("/algo"), options);
    expect(result.resumed).toBe(false);
    expect(result.manifest.blocks().every((l) => /^[0-9a-f]{32}\+/.test(l))).toBe(true);
    expect((await read(md5, result.manifest)).equals(body)).toBe(true);
  });

  it("checks the checksum the origin gives, and records nothing on a mismatch", async () => {
    const body = randomBytes(2 * MiB + 9);
    for (const kind of ["content-md5", "digest", "repr-digest", "s3"] as const) {
      origin.behaviour.checksum = kind;
      origin.set(`/${kind}`, body);
      const c = client();
      const result = await c.stage(origin.url(`/${kind}`), options);
      expect(result.entry.validators?.checksum, kind).toBeDefined();
    }
    // A resumed transfer is checked by reading the stored copy back.
    origin.behaviour.checksum = "digest";
    origin.behaviour.dropAt = [MiB + 3];
    origin.set("/resumed", body);
    expect((await client().stage(origin.url("/resumed"), options)).entry.validators?.checksum)
      .toBeDefined();
    origin.behaviour.checksum = "wrong-md5";
    origin.set("/bad", body);
    const c = client();
    await expect(c.stage(origin.url("/bad"), options)).rejects.toBeInstanceOf(
      ChecksumMismatchError,
    );
    expect(await c.keyIndex!.get(origin.url("/bad"))).toBeUndefined();
  });

  it("fails for good, in one line, on a 404 or when retries run out", async () => {
    const c = client();
    const missing = await c.stage(origin.url("/nothing"), options).catch((e) => e);
    expect(missing.status).toBe(404);
    expect(missing.retryable).toBe(false);
    origin.set("/busy", randomBytes(100));
    origin.behaviour.fail = [503, 503, 503];
    const busy = await c.stage(origin.url("/busy"), {
      ...options,
      retry: { rounds: 3, baseDelay: 1 },
    })
      .catch((e) => e);
    expect(busy.message).toMatch(/HTTP 503/);
    expect(await c.keyIndex!.get(origin.url("/busy"))).toBeUndefined();
  });

  it("says AuthError in one line on 401, and takes credentials from the URL or a netrc", async () => {
    const dir = await tempDir();
    try {
      origin.behaviour.auth = "alice:s3cr3t-Pa55";
      origin.set("/private", randomBytes(MiB + 7));
      const store = new FileStore(join(dir.path, "store"));
      const c = client(store);
      const error = await c.stage(origin.url("/private"), options).catch((e) => e);
      expect(error).toBeInstanceOf(AuthError);
      expect(error.message).not.toMatch(/\n/);
      const withUserinfo = origin.url("/private").replace("http://", "http://alice:s3cr3t-Pa55@");
      const viaUrl = await c.stage(withUserinfo, options);
      expect(viaUrl.key).toBe(origin.url("/private"));
      const netrc = join(dir.path, "netrc");
      await writeFile(
        netrc,
        "machine example.com login bob password nope\n" +
          "machine 127.0.0.1 login alice password s3cr3t-Pa55\n" +
          "default login anon password anon\n",
      );
      const viaNetrc = await c.stage(origin.url("/private"), {
        ...options,
        refresh: true,
        netrc,
      });
      expect(viaNetrc.fetched).toBeGreaterThan(0);
      // The password is in no file of the store: blocks, keys, chunk index.
      const files = await readdir(join(dir.path, "store"), { recursive: true });
      for (const file of files) {
        const path = join(dir.path, "store", String(file));
        const bytes = await readFile(path).catch(() => undefined);
        if (bytes !== undefined) {
          expect(bytes.includes(Buffer.from("s3cr3t-Pa55")), path).toBe(false);
          expect(bytes.includes(Buffer.from("YWxpY2U6czNjcjN0LVBhNTU=")), path).toBe(false);
        }
      }
    } finally {
      await dir.cleanup();
    }
  });

  it("follows redirects, sending credentials only to the origin they belong to", async () => {
    const body = randomBytes(1000);
    origin.set("/target", body);
    // 127.0.0.1 and localhost are different origins on one server.
    const elsewhere = origin.url("/target").replace("127.0.0.1", "localhost");
    origin.behaviour.redirects.set("/moved", elsewhere);
    origin.behaviour.redirects.set("/here", origin.url("/target"));
    const c = client();
    const same = await c.stage(origin.url("/here"), {
      ...options,
      headers: { authorization: "Bearer same-origin" },
    });
    expect(same.key).toBe(origin.url("/here"));
    expect(origin.requests.at(-1)!.auth).toBe("Bearer same-origin");
    const moved = await c.stage(origin.url("/moved"), {
      ...options,
      headers: { authorization: "Bearer do-not-forward" },
    });
    expect((await read(c, moved.manifest)).equals(body)).toBe(true);
    expect(origin.requests.at(-1)!.path).toBe("/target");
    expect(origin.requests.at(-1)!.auth).toBeUndefined();
  });

  it("records a transfer of many small blocks a bounded number of times", async () => {
    const body = randomBytes(4 * MiB);
    origin.set("/small-blocks", body);
    const index = new MemoryKeyIndex();
    let writes = 0;
    const counting = {
      id: index.id,
      get: (key: string) => index.get(key),
      set: (entry: Parameters<MemoryKeyIndex["set"]>[0]) => {
        writes++;
        return index.set(entry);
      },
      delete: (key: string) => index.delete(key),
      list: () => index.list(),
    };
    const c = new BlockClient({ services: [new MemoryStore()], keyIndex: counting });
    const result = await c.stage(origin.url("/small-blocks"), { ...options, blockSize: 8192 });
    expect(result.manifest.blocks().length).toBe(512);
    // 64 records for the first 64 blocks, then one per 1% at most, then the entry.
    expect(writes).toBeLessThanOrEqual(64 + 100 + 1);
    expect((await read(c, result.manifest)).equals(body)).toBe(true);
  });

  it("refuses URLs that are not http(s), and a client without a key index", async () => {
    await expect(client().stage("ftp://example.com/x")).rejects.toBeInstanceOf(TypeError);
    const none = new BlockClient({ services: [new MemoryStore()], keyIndex: false });
    await expect(none.stage(origin.url("/x"))).rejects.toThrow(/no key index/);
    const index = new MemoryKeyIndex();
    origin.set("/y", randomBytes(10));
    expect((await none.stage(origin.url("/y"), { keyIndex: index })).fetched).toBe(10);
  });
});

describe("netrc", () => {
  it("reads machines, a default, quoted tokens and macdefs", () => {
    const netrc = parseNetrc(
      "# comment\nmachine a.example login alice password 'x'\n" +
        'machine B.example\n  login bob\n  password "p w"\n' +
        "macdef init\ncd /pub\nls\n\n" +
        "default login anonymous password me@\n",
    );
    expect(netrc.machines.get("a.example")).toEqual({ login: "alice", password: "'x'" });
    expect(netrc.machines.get("b.example")).toEqual({ login: "bob", password: "p w" });
    expect(netrc.default).toEqual({ login: "anonymous", password: "me@" });
    expect(netrc.machines.size).toBe(2);
  });
});
