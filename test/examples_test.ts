// Every example runs, in both runtimes, as users would run it.
import { describe, expect, it } from "vitest";
import { readdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL("../examples/", import.meta.url));

describe("examples", async () => {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".ts")).sort();
  it("exist", () => {
    expect(files.length).toBeGreaterThan(0);
  });
  for (const file of files) {
    it(`${file} runs to completion`, async () => {
      await import(`../examples/${file}`);
    });
  }
});
