// S3Store against a real S3 server (OpenStack Swift's s3api, started by
// test/_s3_global_setup.ts), plus status mapping against a scripted fetch.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AuthError,
  BlockClient,
  BlockCorruptError,
  BlockNotFoundError,
  InsufficientReplicasError,
  ServiceError,
  StoreFullError,
} from "../../mod.ts";
import { countTask, Crawler } from "../../lib/crawl/mod.ts";
import { S3Store } from "../../lib/store/s3_store.ts";
import { main } from "../../cli/main.ts";
import { blockStoreContract } from "../_block_store_contract.ts";
import { bucketName, emptyStore, newBucketStore, s3Server } from "../_s3.ts";
import {
  arrayFrom,
  concat,
  generatedStream,
  join,
  randomBytes,
  sha256OfStream,
  streamOf,
  tempDir,
} from "../_utils.ts";
import { writeFile } from "node:fs/promises";

const enc = (s: string) => new TextEncoder().encode(s);
const FAST_RETRY = { rounds: 3, baseDelay: 1, maxDelay: 5 };

/** A fetch that counts requests and how many are still open (body not finished). */
function countingFetch(): { fetch: typeof fetch; started: () => number; open: () => number } {
  let started = 0;
  let open = 0;
  const wrapped = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    started++;
    open++;
    let response: Response;
    try {
      response = await fetch(input, init);
    } catch (error) {
      open--;
      throw error;
    }
    if (response.body === null) {
      open--;
      return response;
    }
    let closed = false;
    const close = () => {
      if (!closed) open--;
      closed = true;
    };
    const reader = response.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            close();
            controller.close();
          } else controller.enqueue(value);
        } catch (error) {
          close();
          controller.error(error);
        }
      },
      cancel(reason) {
        close();
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status: response.status, headers: response.headers });
  };
  return { fetch: wrapped as typeof fetch, started: () => started, open: () => open };
}

describe("S3Store on a real S3 server", () => {
  describe("BlockStore contract", () => {
    let bucket: S3Store;
    let n = 0;
    beforeAll(async () => {
      bucket = await newBucketStore("contract");
    });
    blockStoreContract("S3Store", () => {
      const store = new S3Store({ ...s3Server(), bucket: bucket.bucket, prefix: `t${n++}` });
      return Promise.resolve({ store, cleanup: () => emptyStore(store) });
    });
  });

  let store: S3Store;
  beforeAll(async () => {
    store = await newBucketStore("store", { prefix: "blocks" });
  });
  afterAll(async () => {
    if (store) await emptyStore(store);
  });

  it("stores each block as <prefix>/<digest[0:3]>/<digest>", async () => {
    const { locator } = await store.put(enc("foo"));
    expect(store.keyOf(locator)).toBe("blocks/acb/acbd18db4cc2f85cedef654fccc4a4d8");
    // Another store on the same bucket without the prefix does not see it.
    const bare = new S3Store({ ...s3Server(), bucket: store.bucket });
    expect(await bare.has(locator)).toBe(false);
    expect(await store.has(locator)).toBe(true);
  });

  it("reads ranges with Range requests", async () => {
    const data = randomBytes(1 << 20);
    const { locator } = await store.put(data);
    expect(await store.get(locator, { range: { start: 1000, end: 5000 } })).toEqual(
      data.slice(1000, 5000),
    );
    expect(await store.get(locator, { range: { start: (1 << 20) - 1 } })).toEqual(
      data.slice(-1),
    );
    await expect(store.get(locator, { range: { start: 0, end: (1 << 20) + 1 } })).rejects
      .toBeInstanceOf(RangeError);
  });

  it("lets the server verify the body: Content-MD5 for MD5 blocks, x-amz-content-sha256 for SHA-256", async () => {
    // The caller claims to have verified bytes that do not match: only the server can catch it.
    const good = enc("foo");
    const bad = enc("fox");
    const md5 = (await store.put(good)).locator;
    const sha = (await store.put(good, { algorithm: "sha256" })).locator;
    await store.delete(md5);
    await store.delete(sha);
    for (const locator of [md5, sha]) {
      const error = await store.put(bad, { expect: locator, verified: true }).catch((e) => e);
      expect(error).toBeInstanceOf(ServiceError);
      expect(error.status).toBe(400);
      expect(await store.has(locator)).toBe(false);
    }
  });

  it("maps a missing block to BlockNotFoundError, has to false, delete to false", async () => {
    const missing = "0123456789abcdef0123456789abcdef+10";
    const error = await store.get(missing).catch((e) => e);
    expect(error).toBeInstanceOf(BlockNotFoundError);
    expect(error.message).toContain(store.bucket);
    expect(await store.has(missing)).toBe(false);
    expect(await store.delete(missing)).toBe(false);
    const client = new BlockClient({ services: [store], copies: 1, retry: FAST_RETRY });
    await expect(client.get(missing)).rejects.toBeInstanceOf(BlockNotFoundError);
  });

  it("lists more than one page in digest order, and by digest prefix", async () => {
    const paged = await newBucketStore("pages", { listPageSize: 4 });
    const counting = countingFetch();
    const viaCounter = new S3Store({
      ...s3Server(),
      bucket: paged.bucket,
      listPageSize: 4,
      fetch: counting.fetch,
    });
    const locators = await Promise.all(
      Array.from({ length: 13 }, async (_, i) => (await paged.put(enc(`block ${i}`))).locator),
    );
    const listed = await arrayFrom(viaCounter.list());
    expect(listed.map((b) => b.locator)).toEqual([...locators].sort());
    expect(counting.started()).toBe(4); // 4 + 4 + 4 + 1
    for (const info of listed) {
      expect(info.size).toBe(Number(info.locator.split("+")[1]));
      expect(Math.abs(info.mtime - Date.now())).toBeLessThan(10 * 60_000);
    }
    const first = locators[0]!.slice(0, 1);
    expect((await arrayFrom(paged.list({ prefix: first }))).map((b) => b.locator)).toEqual(
      locators.filter((l) => l.startsWith(first)).sort(),
    );
    const exact = locators[0]!.slice(0, 5);
    expect((await arrayFrom(paged.list({ prefix: exact }))).map((b) => b.locator)).toEqual(
      locators.filter((l) => l.startsWith(exact)).sort(),
    );
    expect(counting.open()).toBe(0);
    await emptyStore(paged);
  });

  it("skips keys under the prefix that are not blocks", async () => {
    const mixed = await newBucketStore("mixed");
    const { locator } = await mixed.put(enc("a block"));
    // A stray object at a block-like key under the wrong directory.
    const digest = locator.split("+")[0]!;
    const stray = new S3Store({ ...s3Server(), bucket: mixed.bucket, prefix: "000" });
    await stray.put(enc("a block"));
    expect(stray.keyOf(locator)).toBe(`000/${digest.slice(0, 3)}/${digest}`);
    expect((await arrayFrom(mixed.list())).map((b) => b.locator)).toEqual([locator]);
    await emptyStore(stray);
    await emptyStore(mixed);
  });

  it("raises AuthError naming the bucket on a wrong secret, and BlockClient does not retry it", async () => {
    const counting = countingFetch();
    const wrong = new S3Store({
      ...s3Server(),
      bucket: store.bucket,
      secretAccessKey: "not-the-secret",
      fetch: counting.fetch,
    });
    const error = await wrong.put(enc("foo")).catch((e) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect(error.code).toBe("SignatureDoesNotMatch");
    expect(error.status).toBe(403);
    expect(error.retryable).toBe(false);
    expect(error.message).toContain(`bucket '${store.bucket}'`);
    await expect(wrong.get("acbd18db4cc2f85cedef654fccc4a4d8+3")).rejects.toBeInstanceOf(AuthError);
    await expect(wrong.has("acbd18db4cc2f85cedef654fccc4a4d8+3")).rejects.toBeInstanceOf(
      AuthError,
    );

    const before = counting.started();
    const client = new BlockClient({
      services: [wrong],
      copies: 1,
      retry: { rounds: 6, baseDelay: 1, maxDelay: 5 },
    });
    const putError = await client.put(enc("bar")).catch((e) => e);
    expect(putError).toBeInstanceOf(InsufficientReplicasError);
    expect(putError.message).toContain("SignatureDoesNotMatch");
    expect(counting.started() - before).toBe(1);
    // A refused signature is a read error, not "not found".
    const getError = await client.get("acbd18db4cc2f85cedef654fccc4a4d8+3").catch((e) => e);
    expect(getError).not.toBeInstanceOf(BlockNotFoundError);
    expect(getError.message).toContain("SignatureDoesNotMatch");
    expect(counting.started() - before).toBe(2);
    expect(counting.open()).toBe(0);
  });

  it("round-trips a 300 MiB stream through writable() into two buckets (copies 2) and readable()", async () => {
    const a = await newBucketStore("copies-a");
    const b = await newBucketStore("copies-b");
    const client = new BlockClient({ services: [a, b], copies: 2, retry: FAST_RETRY });
    const size = 300 * 1024 * 1024 + 12345;
    const source = generatedStream(size, 7);
    const sink = client.writable({ blockSize: 16 * 1024 * 1024, blocksInFlight: 4 });
    await source.stream.pipeTo(sink);
    const result = await sink.result;
    expect(result.bytes).toBe(size);
    expect(result.blocks).toBe(19);
    expect(result.replicas.every((r) => r === 2)).toBe(true);
    for (const block of result.manifest.blocks()) {
      expect(await a.has(block)).toBe(true);
      expect(await b.has(block)).toBe(true);
    }
    // Read back with a client that has no cache, so every byte comes from S3.
    const reader = new BlockClient({ services: [b, a], copies: 2, cache: false });
    expect((await sha256OfStream(reader.readable(result.manifest))).hex).toBe(source.sha256());
    const start = 50 * 1024 * 1024 - 10;
    const end = start + 3 * 1024 * 1024;
    const slice = concat(
      await arrayFrom(
        reader.readable(result.manifest, { start, end }) as AsyncIterable<Uint8Array>,
      ),
    );
    expect(slice.length).toBe(end - start);
    await emptyStore(a);
    await emptyStore(b);
  });

  it("aborting mid-upload rejects the result, leaves no request open, and returns no manifest", async () => {
    const counting = countingFetch();
    const target = await newBucketStore("abort");
    const viaCounter = new S3Store({ ...s3Server(), bucket: target.bucket, fetch: counting.fetch });
    const client = new BlockClient({ services: [viaCounter], copies: 1, retry: FAST_RETRY });
    const controller = new AbortController();
    const sink = client.writable({
      blockSize: 4 * 1024 * 1024,
      blocksInFlight: 4,
      signal: controller.signal,
    });
    const result = sink.result.then(
      () => "resolved",
      (e) => e,
    );
    const writer = sink.getWriter();
    const reason = new Error("stop the upload");
    const chunk = randomBytes(1 << 20);
    let written = 0;
    const writes = (async () => {
      for (let i = 0; i < 200; i++) {
        await writer.write(chunk.slice());
        written++;
        if (written === 24) controller.abort(reason);
      }
    })().catch((e) => e);
    expect(await writes).toBe(reason);
    expect(await result).toBe(reason);
    expect(counting.started()).toBeGreaterThan(0);
    expect(counting.open()).toBe(0);
    writer.releaseLock();
  });

  it("aborting through node:http bodies (no custom fetch) rejects with the reason", async () => {
    const target = await newBucketStore("abort2");
    const client = new BlockClient({ services: [target], copies: 1, retry: FAST_RETRY });
    const controller = new AbortController();
    const sink = client.writable({
      blockSize: 8 * 1024 * 1024,
      blocksInFlight: 4,
      signal: controller.signal,
    });
    const reason = new Error("enough");
    setTimeout(() => controller.abort(reason), 150);
    const piped = generatedStream(1024 * 1024 * 1024, 3).stream.pipeTo(sink).catch((e) => e);
    expect(await piped).toBe(reason);
    await expect(sink.result).rejects.toBe(reason);
  });

  it("is a service string: s3://bucket/prefix?endpoint=…, credentials from AWS_* variables", async () => {
    const server = s3Server();
    const env = process.env;
    const saved = { ...env };
    env.AWS_ACCESS_KEY_ID = server.accessKeyId;
    env.AWS_SECRET_ACCESS_KEY = server.secretAccessKey;
    env.AWS_REGION = server.region;
    try {
      const url = `s3://${store.bucket}/via-url?endpoint=${server.endpoint}`;
      const client = new BlockClient({ services: [url], copies: 1, retry: FAST_RETRY });
      const { locator } = await client.put(enc("from a url"));
      const direct = new S3Store({ ...server, bucket: store.bucket, prefix: "via-url" });
      expect(await direct.get(locator)).toEqual(enc("from a url"));

      // stowage put FILE --service s3://…
      const dir = await tempDir();
      try {
        const file = join(dir.path, "in.bin");
        const data = randomBytes(300_000);
        await writeFile(file, data);
        let out = "";
        const io = {
          stdin: () => streamOf<Uint8Array>([]),
          stdout: () =>
            new WritableStream<Uint8Array>({
              write: (c) => void (out += new TextDecoder().decode(c)),
            }),
          stderr: () => {},
        };
        const code = await main(
          ["put", file, "--service", url, "--copies", "1", "--block-size", "100K"],
          io,
        );
        expect(code).toBe(0);
        const blocks = out.match(/[0-9a-f]{32}\+\d+/g)!;
        expect(blocks.length).toBe(3);
        for (const block of blocks) expect(await direct.has(block)).toBe(true);

        // stowage ls and crawl --service s3://… walk the bucket.
        out = "";
        expect(await main(["ls", "--service", url, "--dir", dir.path], io)).toBe(0);
        const listed = out.trim().split("\n").map((line) => line.split(" ")[0]);
        expect(listed).toEqual([locator, ...blocks].sort());
        out = "";
        const crawl = [
          "crawl",
          "--task",
          "count",
          "--cpu",
          "1",
          "--service",
          url,
          "--dir",
          dir.path,
        ];
        expect(await main(crawl, io)).toBe(0);
        expect(out).toMatch(/\b4 blocks\b/);

        // A bucket that does not exist yet: NoSuchBucket, unless put creates it.
        const fresh = `s3://${bucketName("cli-mb")}/blocks?endpoint=${server.endpoint}`;
        let err = "";
        const errIO = { ...io, stderr: (t: string) => void (err += t) };
        const args = ["put", file, "--service", fresh, "--copies", "1", "--dir", dir.path, "-q"];
        expect(await main(args, errIO)).toBe(1);
        expect(err).toMatch(/NoSuchBucket/);
        expect(await main([...args, "--create-bucket"], errIO)).toBe(0);
      } finally {
        await dir.cleanup();
      }
      await emptyStore(direct);
    } finally {
      for (const key of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"]) {
        if (saved[key] === undefined) delete env[key];
        else env[key] = saved[key];
      }
    }
  });

  it("keeps the chunk index of content-chunked writes in the bucket, away from its blocks", async () => {
    const { BlockClient } = await import("../../mod.ts");
    const { randomBytes } = await import("../_utils.ts");
    const bucket = await newBucketStore("chunks", { prefix: "p" });
    const sizes = { min: 2048, avg: 8192, max: 32768 };
    const write = async (data: Uint8Array<ArrayBuffer>) => {
      // A new client each time, as a new process would be: only the bucket remembers.
      const client = new BlockClient({ services: [bucket] });
      expect(client.chunkIndex?.id).toMatch(/\/chunks$/);
      const sink = client.writable({ chunking: "content", chunkSize: sizes, blockSize: 1 << 20 });
      await new Blob([data]).stream().pipeTo(sink);
      const result = await sink.result;
      const back = new Uint8Array(
        await new Response(client.readable(result.manifest)).arrayBuffer(),
      );
      expect(Buffer.from(back).equals(Buffer.from(data))).toBe(true);
      return result;
    };
    const v1 = randomBytes(1536 * 1024);
    const v2 = new Uint8Array(
      Buffer.concat([v1.subarray(0, 500_000), randomBytes(3000), v1.subarray(500_000)]),
    );
    expect((await write(v1)).bytesStored).toBe(v1.length);
    const second = await write(v2);
    expect(second.bytesStored).toBeLessThan(100 * 1024);
    // The index is objects under <prefix>/chunks/; listing blocks skips them.
    const blocks = [];
    for await (const info of bucket.list()) blocks.push(info.locator);
    expect(blocks.length).toBe(3);
    // Many appends to one shard are merged into one object when read.
    const index = bucket.chunkIndex();
    const digest = (i: number) => `abc${String(i).padStart(61, "0")}`;
    for (let i = 0; i < 18; i++) {
      await index.add([{ digest: digest(i), locator: blocks[0]!, offset: i, length: 1 }]);
    }
    expect((await bucket.chunkIndex().lookup([digest(0), digest(17)])).size).toBe(2);
    expect((await bucket.chunkIndex().lookup([digest(5)])).get(digest(5))?.offset).toBe(5);
    expect(await bucket.chunkIndex().dropBlocks([blocks[0]!])).toBeGreaterThanOrEqual(18);
    expect((await bucket.chunkIndex().lookup([digest(3)])).size).toBe(0);
  });

  it("keeps the keys a client stages in the bucket, for the next client", async () => {
    const { startOrigin } = await import("../_origin_server.ts");
    const origin = await startOrigin();
    try {
      const bucket = await newBucketStore("stage");
      const body = randomBytes(300_000);
      origin.set("/staged.bin", body);
      const first = new BlockClient({ services: [bucket] });
      expect(first.keyIndex?.id).toMatch(/\/keys$/);
      const url = origin.url("/staged.bin");
      const staged = await first.stage(url, { blockSize: 100_000 });
      await origin.close();
      // A new client, as a new process would be: the bucket remembers, no origin needed.
      const next = new BlockClient({ services: [bucket] });
      const again = await next.stage(url, { offline: true });
      expect(again.manifest.toText()).toBe(staged.manifest.toText());
      const back = new Uint8Array(await new Response(next.readable(again.manifest)).arrayBuffer());
      expect(Buffer.from(back).equals(Buffer.from(body))).toBe(true);
      // The key objects are not blocks.
      const blocks = [];
      for await (const info of bucket.list()) blocks.push(info.locator);
      expect(blocks.length).toBe(3);
    } finally {
      await origin.close().catch(() => {});
    }
  });

  it("is walked by the crawler through list", async () => {
    const walked = await newBucketStore("crawl");
    let bytes = 0;
    for (let i = 0; i < 20; i++) {
      const block = enc(`crawl ${i}`);
      await walked.put(block);
      bytes += block.length;
    }
    const crawler = new Crawler(walked, countTask(), { allowedCpuFraction: 1 });
    await crawler.runCycle();
    expect(crawler.state.task.lastTotal).toBe(20);
    expect(crawler.state.task.lastBytes).toBe(bytes);
    await emptyStore(walked);
  });
});

describe("S3Store status mapping (scripted responses)", () => {
  function scripted(status: number, body: string): typeof fetch {
    return (() => Promise.resolve(new Response(enc(body), { status }))) as typeof fetch;
  }
  const error = (code: string) =>
    `<?xml version="1.0"?><Error><Code>${code}</Code><Message>m</Message></Error>`;
  const options = { accessKeyId: "k", secretAccessKey: "s", endpoint: "http://127.0.0.1:9" };

  for (
    const [status, code, kind, retryable] of [
      [503, "SlowDown", ServiceError, true],
      [500, "InternalError", ServiceError, true],
      [400, "RequestTimeout", ServiceError, true],
      [404, "NoSuchBucket", ServiceError, false],
      [403, "AccessDenied", AuthError, false],
      [403, "InvalidAccessKeyId", AuthError, false],
      [400, "EntityTooLarge", ServiceError, false],
      [507, "InsufficientStorage", StoreFullError, undefined],
    ] as const
  ) {
    it(`${status} ${code} → ${kind.name}${retryable === undefined ? "" : retryable ? " (retryable)" : " (permanent)"}`, async () => {
      const s3 = new S3Store({ ...options, bucket: "b-map", fetch: scripted(status, error(code)) });
      const failure = await s3.get("acbd18db4cc2f85cedef654fccc4a4d8+3").catch((e) => e);
      expect(failure).toBeInstanceOf(kind);
      if (retryable !== undefined) expect(failure.retryable).toBe(retryable);
      expect(failure.message).toContain(code);
      expect(failure.message).toContain("b-map");
    });
  }

  it("NoSuchKey is BlockNotFoundError; a short body is BlockCorruptError", async () => {
    const missing = new S3Store({
      ...options,
      bucket: "b-map",
      fetch: scripted(404, error("NoSuchKey")),
    });
    await expect(missing.get("acbd18db4cc2f85cedef654fccc4a4d8+3")).rejects.toBeInstanceOf(
      BlockNotFoundError,
    );
    const short = new S3Store({ ...options, bucket: "b-map", fetch: scripted(200, "fo") });
    await expect(short.get("acbd18db4cc2f85cedef654fccc4a4d8+3")).rejects.toBeInstanceOf(
      BlockCorruptError,
    );
  });

  it("sends what S3 expects: addressing, digests as integrity headers, SigV4, whole bodies", async () => {
    const seen: { method: string; url: string; headers: Headers; body: Uint8Array | null }[] = [];
    const recording = ((input: RequestInfo | URL, init?: RequestInit) => {
      const body = init?.body ? new Uint8Array(init.body as Uint8Array) : null;
      seen.push({
        method: init?.method ?? "GET",
        url: String(input),
        headers: new Headers(init?.headers),
        body,
      });
      return Promise.resolve(new Response(null, { status: 200 }));
    }) as typeof fetch;
    const aws = new S3Store({
      bucket: "blocks-a",
      region: "eu-west-1",
      accessKeyId: "AKIDEXAMPLE",
      secretAccessKey: "secret",
      sessionToken: "session",
      prefix: "/p/",
      fetch: recording,
    });
    await aws.put(enc("foo"));
    await aws.put(enc("foo"), { algorithm: "sha256" });
    await aws.createBucket();
    const [md5Put, shaPut, create] = seen;
    expect(md5Put!.method).toBe("PUT");
    expect(md5Put!.url).toBe(
      "https://blocks-a.s3.eu-west-1.amazonaws.com/p/acb/acbd18db4cc2f85cedef654fccc4a4d8",
    );
    // Content-MD5 is the base64 of the block's own MD5: the server checks it.
    expect(md5Put!.headers.get("content-md5")).toBe("rL0Y20zC+Fzt72VPzMSk2A==");
    expect(md5Put!.headers.get("x-amz-content-sha256")).toBe("UNSIGNED-PAYLOAD");
    expect(md5Put!.headers.get("x-amz-security-token")).toBe("session");
    expect(md5Put!.headers.get("authorization")).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/s3\/aws4_request, SignedHeaders=[^,]*content-md5[^,]*, Signature=[0-9a-f]{64}$/,
    );
    expect(md5Put!.headers.get("transfer-encoding")).toBeNull();
    expect(md5Put!.body).toEqual(enc("foo"));
    expect(shaPut!.headers.get("x-amz-content-sha256")).toBe(
      "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
    );
    expect(shaPut!.headers.get("content-md5")).toBeNull();
    expect(create!.url).toBe("https://blocks-a.s3.eu-west-1.amazonaws.com/");
    expect(new TextDecoder().decode(create!.body!)).toContain(
      "<LocationConstraint>eu-west-1</LocationConstraint>",
    );

    seen.length = 0;
    const local = new S3Store({ ...options, bucket: "blocks-b", fetch: recording });
    await local.has("acbd18db4cc2f85cedef654fccc4a4d8+3");
    expect(seen[0]!.method).toBe("HEAD");
    expect(seen[0]!.url).toBe("http://127.0.0.1:9/blocks-b/acb/acbd18db4cc2f85cedef654fccc4a4d8");
  });

  it("parses service strings and checks options", () => {
    const fromUrl = S3Store.fromUrl(
      "s3://my-bucket/a/b?endpoint=http://127.0.0.1:18080&region=eu-west-1",
      { accessKeyId: "k", secretAccessKey: "s" },
    );
    expect(fromUrl.bucket).toBe("my-bucket");
    expect(fromUrl.prefix).toBe("a/b");
    expect(fromUrl.id).toBe("s3://my-bucket/a/b?endpoint=http://127.0.0.1:18080");
    expect(fromUrl.keyOf("acbd18db4cc2f85cedef654fccc4a4d8+3")).toBe(
      "a/b/acb/acbd18db4cc2f85cedef654fccc4a4d8",
    );
    expect(() => S3Store.fromUrl("http://x/y", options)).toThrow(TypeError);
    expect(() => new S3Store({ ...options, bucket: "A_B" })).toThrow(TypeError);
    expect(() => new S3Store({ bucket: "ok-bucket", accessKeyId: "", secretAccessKey: "s" }))
      .toThrow(/accessKeyId/);
    expect(() => new S3Store({ ...options, bucket: "ok-bucket", listPageSize: 0 })).toThrow(
      RangeError,
    );
    expect(() => new S3Store({ ...options, bucket: "ok-bucket", endpoint: "ftp://x" })).toThrow(
      TypeError,
    );
    expect(new S3Store({ bucket: "ok-bucket", accessKeyId: "k", secretAccessKey: "s" }).id).toBe(
      "s3://ok-bucket/",
    );
    expect(bucketName("x")).toMatch(/^stowage-(node|deno)-x-/);
  });
});
