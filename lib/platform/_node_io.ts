/**
 * Byte streams over files, stdin and stdout, for the CLI and benchmarks.
 * `node:fs` and `node:process` run natively in Node and Deno, so one adapter
 * serves both. Private to the package.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import process from "node:process";
import { basename, dirname, join } from "node:path";
import { fs, makeDirectory } from "./_fs.ts";
import { TEMP_PREFIX } from "./_atomic_write.ts";
import { Chunker } from "./_chunker.ts";

/** Read size for files: large reads keep syscalls few without holding much memory. */
const READ_SIZE = 4 * 1024 * 1024;

/** A byte stream of a file's contents (bytes `[start, end)`, default all), read on demand. */
export function fileReadable(
  path: string,
  options: { start?: number; end?: number; readSize?: number } = {},
): ReadableStream<Uint8Array> {
  let handle: Awaited<ReturnType<typeof fs.open>> | undefined;
  let position = options.start ?? 0;
  const end = options.end ?? Infinity;
  const readSize = options.readSize ?? READ_SIZE;
  return new ReadableStream<Uint8Array>(
    {
      async start() {
        handle = await fs.open(path, "r");
      },
      async pull(controller) {
        const want = Math.min(readSize, end - position);
        const buffer = new Uint8Array(Math.max(0, want));
        const { bytesRead } = want <= 0
          ? { bytesRead: 0 }
          : await handle!.read(buffer, 0, want, position);
        if (bytesRead === 0) {
          await handle!.close();
          handle = undefined;
          controller.close();
          return;
        }
        position += bytesRead;
        controller.enqueue(bytesRead === want ? buffer : buffer.slice(0, bytesRead));
      },
      async cancel() {
        await handle?.close();
        handle = undefined;
      },
    },
    { highWaterMark: 0 },
  );
}

/** A sink that replaces a file atomically: the file appears, whole, only when the stream closes. */
export function fileWritable(path: string): WritableStream<Uint8Array> {
  // The same rule as atomicWrite, streamed: the bytes go to a temp file beside
  // the target, made durable and renamed over it on close; an abort or a
  // failure removes the temp file, so nobody ever reads a half-written file.
  const temp = join(dirname(path), `${TEMP_PREFIX}${basename(path)}-${crypto.randomUUID()}`);
  let handle: Awaited<ReturnType<typeof fs.open>> | undefined;
  const discard = async (): Promise<void> => {
    await handle?.close().catch(() => {});
    handle = undefined;
    await fs.unlink(temp).catch(() => {});
  };
  return new WritableStream<Uint8Array>({
    async start() {
      await makeDirectory(dirname(path));
      handle = await fs.open(temp, "wx");
    },
    async write(chunk) {
      try {
        let done = 0;
        while (done < chunk.length) {
          const { bytesWritten } = await handle!.write(chunk, done, chunk.length - done);
          done += bytesWritten;
        }
      } catch (error) {
        await discard();
        throw error;
      }
    },
    async close() {
      try {
        await handle!.datasync();
        await handle!.close();
        handle = undefined;
        await fs.rename(temp, path);
      } catch (error) {
        await discard();
        throw error;
      }
    },
    abort: discard,
  });
}

/**
 * A Node `Readable` (a request body, stdin) as a Web byte stream, honouring
 * backpressure. Written out rather than `Readable.toWeb`, which on Node 20
 * throws an uncatchable "Controller is already closed" when the peer aborts.
 */
export function fromNodeReadable(
  readable: NodeJS.ReadableStream & {
    destroy?: (error?: Error) => void;
    readableEnded?: boolean;
    complete?: boolean;
  },
  options: {
    highWaterMark?: number;
    onCancel?: "destroy" | "drain";
    /**
     * Coalesce the data into chunks of this many bytes (the last may be
     * shorter): fewer, larger chunks for a consumer that keeps them.
     */
    pieceSize?: number;
    /** The body's length when known, so the last piece is not over-allocated. */
    expected?: number;
  } = {},
): ReadableStream<Uint8Array> {
  let settled = false;
  // Uninitialised: every byte handed on is written first, and zeroing a
  // megabyte a piece is measurable.
  const chunker = options.pieceSize === undefined ? undefined : new Chunker(options.pieceSize, {
    allocate: (size) => {
      const buffer = Buffer.allocUnsafeSlow(size);
      return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);
    },
    ...(options.expected === undefined ? {} : { expected: options.expected }),
  });
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        readable.on("data", (chunk: Uint8Array) => {
          if (settled) return;
          if (chunker === undefined) {
            controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          } else for (const piece of chunker.push(chunk)) controller.enqueue(piece);
          if ((controller.desiredSize ?? 1) <= 0) readable.pause();
        });
        readable.on("end", () => {
          if (settled) return;
          settled = true;
          const tail = chunker?.flush();
          if (tail !== undefined) controller.enqueue(tail);
          controller.close();
        });
        readable.on("error", (error: Error) => {
          if (settled) return;
          settled = true;
          controller.error(error);
        });
        readable.on("close", () => {
          if (settled) return;
          settled = true;
          controller.error(new Error("the stream closed before it ended"));
        });
        readable.pause();
      },
      pull() {
        readable.resume();
      },
      cancel() {
        settled = true;
        if (options.onCancel === "destroy") readable.destroy?.();
        else readable.resume();
      },
    },
    { highWaterMark: options.highWaterMark ?? 1 << 20, size: (chunk) => chunk.byteLength },
  );
}

/** Standard input as a byte stream. */
export function stdinReadable(): ReadableStream<Uint8Array> {
  return fromNodeReadable(process.stdin, { onCancel: "destroy" });
}

/** Standard output as a byte sink that honours the pipe's backpressure. */
export function stdoutWritable(): WritableStream<Uint8Array> {
  const stdout = process.stdout;
  // A closed pipe (`stowage get m | head`) reports EPIPE as an 'error' event;
  // without a listener it would crash the process instead of failing the write.
  let failure: unknown;
  const onError = (error: unknown): void => {
    failure ??= error;
  };
  return new WritableStream<Uint8Array>({
    start() {
      stdout.on("error", onError);
    },
    write(chunk) {
      if (failure !== undefined) return Promise.reject(failure);
      return new Promise<void>((resolve, reject) => {
        stdout.write(chunk, (error) => (error ? reject(error) : resolve()));
      });
    },
    close() {
      stdout.off("error", onError);
    },
    abort() {
      stdout.off("error", onError);
    },
  });
}
