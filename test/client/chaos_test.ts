/**
 * The chaos suite's write and read (`_chaos.mjs`), run as a process of its own
 * in this runtime: faults from a fixed seed (503, 507, stalls, bodies dropped
 * mid-way, slow headers and bodies, 20% corrupt reads), 192 MiB in 4 MiB
 * blocks, two copies on three servers. It must end with every block intact on
 * two servers, exact bytes back, no unhandled rejection, and exit by itself.
 */
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { runtime } from "../_utils.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));

function runChaos(seed: number, mib: number, deadlineMs: number) {
  const script = "test/client/_chaos.mjs";
  const args = runtime === "deno"
    ? ["run", "-A", script, String(seed), String(mib)]
    : [script, String(seed), String(mib)];
  return new Promise<{ code: number | null; out: string; err: string; timedOut: boolean }>(
    (resolve, reject) => {
      const child = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      let timedOut = false;
      // A process that does not exit by itself (a leaked timer or socket) fails.
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGKILL");
      }, deadlineMs);
      child.stdout.on("data", (c: Uint8Array) => (out += new TextDecoder().decode(c)));
      child.stderr.on("data", (c: Uint8Array) => (err += new TextDecoder().decode(c)));
      child.once("error", reject);
      child.once("close", (code) => {
        clearTimeout(timer);
        resolve({ code, out, err, timedOut });
      });
    },
  );
}

describe("chaos", () => {
  it(
    "a replicated write and read through faulty servers end intact, and the process exits by itself",
    async () => {
      const { code, out, err, timedOut } = await runChaos(7, 192, 150_000);
      expect(timedOut, `still running after 150 s: ${out}${err}`).toBe(false);
      expect(err).not.toMatch(/UNHANDLED/);
      expect(out, err).toMatch(/^CHAOS OK 48 blocks/m);
      expect(code, err).toBe(0);
      // The faults did happen.
      const faults = JSON.parse(out.slice(out.indexOf("{"))) as Record<string, number>;
      for (const kind of ["put 503", "put 507", "put stalled", "get corrupt", "get slow body"]) {
        expect(faults[kind], kind).toBeGreaterThan(0);
      }
    },
    160_000,
  );
});
