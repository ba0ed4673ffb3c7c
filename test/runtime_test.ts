import { describe, expect, it } from "vitest";
import { runtime } from "./_utils.ts";

describe("runtime", () => {
  it("reports which runtime runs the suite", () => {
    expect(["node", "deno"]).toContain(runtime);
    if (process.env.STOWAGE_EXPECT_RUNTIME) {
      expect(runtime).toBe(process.env.STOWAGE_EXPECT_RUNTIME);
    }
  });
});
