/**
 * Helpers for tests that talk HTTP: raw sockets, and `stowage serve` as a child process.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { runtime } from "./_utils.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

/** Sends raw bytes to host:port and returns everything the server sent back before closing (or the timeout). */
export function rawRequest(
  port: number,
  parts: (string | Uint8Array)[],
  options: { endAfter?: boolean; timeout?: number; gapMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), options.timeout ?? 3000);
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("latin1"));
    });
    socket.on("connect", async () => {
      try {
        for (const part of parts) {
          socket.write(part);
          if (options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
        }
        if (options.endAfter ?? true) socket.end();
      } catch (error) {
        reject(error);
      }
    });
  });
}

/** The status codes of every response in a raw HTTP reply. */
export function statuses(reply: string): number[] {
  return [...reply.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
}

/** `stowage serve` in a child process of the current runtime. */
export interface ServerProcess {
  url: string;
  port: number;
  child: ChildProcess;
  /** What the server wrote to stderr so far. */
  stderr(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `stowage serve` as a child process and waits for its URL. */
export function startServerProcess(args: string[]): Promise<ServerProcess> {
  const command = runtime === "deno"
    ? [process.execPath, "run", "-A", join(root, "cli", "main.ts")]
    : [process.execPath, join(root, "bin", "stowage.js")];
  const child = spawn(command[0]!, [...command.slice(1), "serve", "--port", "0", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code))
  );
  let errText = "";
  child.stderr!.on("data", (c: Buffer) => (errText += c.toString()));
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`stowage serve did not start: ${out}`));
    }, 20_000);
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const match = /serving .* on (http:\/\/[^\s]+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        const url = match[1]!;
        resolve({
          url,
          port: Number(new URL(url).port),
          child,
          stderr: () => errText,
          stop(signal: NodeJS.Signals = "SIGTERM") {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
          },
        });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`stowage serve exited with ${code}: ${out}`));
    });
  });
}
