/**
 * Every example runs to completion as users run it: `node examples/x.mjs` on
 * this Node (the lowest the package claims, in CI), `deno run -A
 * examples/x.mjs` under Deno. They import "stowage": the built package under
 * Node (through its own exports), `mod.ts` under Deno (deno.json's imports).
 */
import { describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { readdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { runtime } from "./_utils.ts";

const root = fileURLToPath(new URL("..", import.meta.url));

function runExample(file: string): Promise<{ code: number | null; out: string }> {
  const args = runtime === "deno" ? ["run", "-A", `examples/${file}`] : [`examples/${file}`];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c: Uint8Array) => (out += new TextDecoder().decode(c)));
    child.stderr.on("data", (c: Uint8Array) => (out += new TextDecoder().decode(c)));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, out }));
  });
}

describe("examples", async () => {
  const files = (await readdir(fileURLToPath(new URL("../examples/", import.meta.url))))
    .filter((f) => f.endsWith(".mjs")).sort();
  it("exist", () => {
    expect(files.length).toBeGreaterThanOrEqual(6);
  });
  for (const file of files) {
    it(`${file} runs to completion`, async () => {
      const { code, out } = await runExample(file);
      expect(code, out).toBe(0);
    });
  }
});
