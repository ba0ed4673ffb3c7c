// The chaos run, as a process of its own (test/client/chaos_test.ts starts it
// in Node and in Deno): three block servers behind a fault injector that, from
// a fixed seed, fails, refuses (507), stalls, drops mid-body, slows and
// corrupts; a replicated write and a read back through them. Prints
// `CHAOS OK …` when every block is intact on at least `copies` servers and the
// bytes read back are exact; exits by itself (no process.exit): a leaked timer
// or socket would keep it alive past the test's deadline.
import { BlockClient, MemoryStore } from "stowage";
import { createBlockHandler, serve } from "stowage/server";

const MiB = 1024 * 1024;
const seed = Number(process.argv[2] ?? "7");
const total = Number(process.argv[3] ?? "96") * MiB;
let state = seed;
const random = () => (state = (state * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let unhandled = 0;
process.on("unhandledRejection", (error) => {
  unhandled++;
  console.error(`UNHANDLED ${error?.stack ?? error}`);
});

const faults = {};
const count = (name) => (faults[name] = (faults[name] ?? 0) + 1);

// Each fault happens at least once, whatever order requests arrive in: the
// first requests of each method take every fault in turn, then draws decide.
const forced = { PUT: [0.1, 0.17, 0.22, 0.28, 0.33], GET: [0.1, 0.25, 0.3, 0.35] };

/** The fault injector: one draw per request decides its fate. */
async function chaos(request, handler) {
  const r = forced[request.method]?.shift() ?? random();
  if (request.method === "PUT") {
    if (r < 0.15) return count("put 503") && new Response("injected\n", { status: 503 });
    if (r < 0.20) return count("put 507") && new Response("full\n", { status: 507 });
    if (r < 0.26) {
      count("put dropped mid-body");
      await request.body?.cancel();
      let sent = false;
      return new Response(
        new ReadableStream({
          pull(c) {
            if (sent) return c.close();
            sent = true;
            c.enqueue(new TextEncoder().encode("acbd18db"));
          },
        }),
        { headers: { "content-length": "100", connection: "close" } },
      );
    }
    if (r < 0.31) {
      count("put stalled");
      await sleep(1000);
      await request.body?.cancel();
      return new Response("late\n", { status: 503 });
    }
    if (r < 0.36) {
      count("put slow headers");
      await sleep(200);
    }
    return handler(request);
  }
  if (request.method === "GET") {
    if (r < 0.20) {
      count("get corrupt");
      const real = await handler(request);
      const bytes = new Uint8Array(await real.arrayBuffer());
      if (bytes.length > 0) bytes[Math.floor(random() * bytes.length)] ^= 0xff;
      return new Response(bytes, { status: real.status, headers: real.headers });
    }
    if (r < 0.27) return count("get 503") && new Response("injected\n", { status: 503 });
    if (r < 0.32) {
      count("get slow headers");
      await sleep(300);
      return handler(request);
    }
    if (r < 0.37) {
      count("get slow body");
      const real = await handler(request);
      const reader = real.body.getReader();
      return new Response(
        new ReadableStream({
          async pull(c) {
            const { done, value } = await reader.read();
            if (done) return c.close();
            await sleep(5);
            c.enqueue(value);
          },
          cancel: (reason) => reader.cancel(reason),
        }),
        { status: real.status, headers: real.headers },
      );
    }
  }
  return handler(request);
}

const stores = [0, 1, 2].map((i) => new MemoryStore({ id: `chaos-${i}` }));
const servers = await Promise.all(stores.map((store) => {
  const handler = createBlockHandler({ store });
  return serve((request) => chaos(request, handler));
}));
try {
  const data = new Uint8Array(total);
  for (let at = 0; at < total; at += 65536) {
    crypto.getRandomValues(data.subarray(at, Math.min(total, at + 65536)));
  }
  const copies = 2;
  const client = new BlockClient({
    services: servers.map((s) => s.url),
    copies,
    retry: { rounds: 8, baseDelay: 10, maxDelay: 200 },
    onRetry: () => {},
  });
  const sink = client.writable({ blockSize: 4 * MiB });
  await new Blob([data]).stream().pipeTo(sink);
  const { manifest } = await sink.result;
  const blocks = manifest.blocks();
  for (const locator of blocks) {
    let intact = 0;
    for (const store of stores) {
      try {
        await store.get(locator);
        intact++;
      } catch {
        // Not here (or not whole): not a copy.
      }
    }
    if (intact < copies) throw new Error(`block ${locator} is intact on ${intact} servers`);
  }
  const back = new Uint8Array(await new Response(client.readable(manifest)).arrayBuffer());
  if (back.length !== data.length || !back.every((b, i) => b === data[i])) {
    throw new Error("the bytes read back differ");
  }
  if (unhandled > 0) throw new Error(`${unhandled} unhandled rejections`);
  console.log(
    `CHAOS OK ${blocks.length} blocks, ${client.stats.corruptReplicas} corrupt replicas met; ` +
      JSON.stringify(faults),
  );
} finally {
  await Promise.all(servers.map((s) => s.close()));
}
