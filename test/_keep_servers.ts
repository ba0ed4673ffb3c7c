/**
 * Block servers on 127.0.0.1 for the write-path tests: the real block handler
 * over a MemoryStore, behind a fault injector.
 *
 * @module
 */
import {
  type BlockHandlerOptions,
  createBlockHandler,
  serve,
  type Server,
} from "../lib/server/mod.ts";
import { MemoryStore } from "../mod.ts";

/** Returns a response to short-circuit the real handler, or undefined to pass through. */
export type Fault = (
  request: Request,
  count: number,
) => Response | undefined | Promise<Response | undefined>;

/** One test server. */
export interface TestServer {
  url: string;
  store: MemoryStore;
  server: Server;
  /** Requests seen, by method. */
  requests: Record<string, number>;
  /** Requests being handled right now. */
  active: number;
  /** Most requests handled at once. */
  peakActive: number;
  /** Replace the fault. */
  fault: Fault | undefined;
}

/** Starts `n` servers; `faultFor(i)` gives server i a fault. */
export async function startKeepServers(
  n: number,
  faultFor: (i: number) => Fault | undefined = () => undefined,
  handlerOptions: Partial<BlockHandlerOptions> = {},
): Promise<{ servers: TestServer[]; urls: string[]; close: () => Promise<void> }> {
  const servers: TestServer[] = [];
  for (let i = 0; i < n; i++) {
    const store = new MemoryStore({ id: `mem-${i}` });
    const handler = createBlockHandler({ store, ...handlerOptions });
    const entry = {
      store,
      requests: {} as Record<string, number>,
      active: 0,
      peakActive: 0,
      fault: faultFor(i),
    } as TestServer;
    entry.server = await serve(async (request) => {
      const method = request.method;
      const count = (entry.requests[method] = (entry.requests[method] ?? 0) + 1);
      entry.active++;
      entry.peakActive = Math.max(entry.peakActive, entry.active);
      try {
        const injected = await entry.fault?.(request, count);
        if (injected !== undefined) {
          if (!request.bodyUsed && request.body) await request.body.cancel().catch(() => {});
          return injected;
        }
        return await handler(request);
      } finally {
        entry.active--;
      }
    });
    entry.url = entry.server.url;
    servers.push(entry);
  }
  return {
    servers,
    urls: servers.map((s) => s.url),
    close: async () => {
      await Promise.all(servers.map((s) => s.server.close()));
    },
  };
}

/** A fault answering `status` to PUTs for which `when(count)` holds. */
export function failPuts(status: number, when: (count: number) => boolean = () => true): Fault {
  return (request, count) =>
    request.method === "PUT" && when(count)
      ? new Response(`injected ${status}\n`, { status })
      : undefined;
}

/** A fault that never answers PUTs (until the client gives up and disconnects). */
export function stallPuts(when: (count: number) => boolean = () => true): Fault {
  return (request, count) => {
    if (request.method !== "PUT" || !when(count)) return undefined;
    return new Promise<Response>((resolve) => {
      const timer = setTimeout(() => resolve(new Response("late\n", { status: 503 })), 5000);
      request.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve(new Response("gone\n", { status: 499 }));
      }, { once: true });
    });
  };
}

/** A fault that starts a 200 response and drops the connection mid-body. */
export function closeMidBody(when: (count: number) => boolean = () => true): Fault {
  return (request, count) => {
    if (request.method !== "PUT" || !when(count)) return undefined;
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (!sent) {
          sent = true;
          controller.enqueue(new TextEncoder().encode("acbd18db"));
          return;
        }
        // Ended short of its Content-Length on a connection that then closes:
        // the client sees the connection drop mid-body. (Erroring the stream
        // instead would do the same, but Deno.serve prints every such error.)
        controller.close();
      },
    });
    return new Response(body, {
      status: 200,
      headers: {
        "content-length": "100",
        "x-keep-replicas-stored": "1",
        connection: "close",
      },
    });
  };
}

/** Deterministic pseudo-random booleans with probability p. */
export function seeded(p: number, seed = 7): () => boolean {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x7fffffff < p;
  };
}
