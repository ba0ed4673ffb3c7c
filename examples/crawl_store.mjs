/**
 * Scrubs a store: a damaged block is found and moved to quarantine.
 *
 * Run: `node examples/crawl_store.mjs` after `npm install` (Node 20 or later), or
 * `deno run -A examples/crawl_store.mjs`.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { countTask, Crawler, verifyTask } from "stowage/crawl";
import { FileStore } from "stowage";

const root = await mkdtemp(join(tmpdir(), "stowage-crawl-"));
try {
  const store = new FileStore(join(root, "blocks"));
  /** @type {string[]} */
  const locators = [];
  for (let i = 0; i < 20; i++) {
    locators.push((await store.put(new TextEncoder().encode(`block ${i}`))).locator);
  }
  await writeFile(store.pathOf(locators[7]), "bit rot");

  const counter = new Crawler(store, countTask(), { allowedCpuFraction: 1 });
  await counter.runCycle();
  console.log(`counted ${counter.state.task.lastTotal} blocks`);

  const scrubber = new Crawler(store, verifyTask(), {
    statePath: join(root, "verify-state.json"), // resumable after a restart
    allowedCpuFraction: 0.5, // work at most half the time
  });
  await scrubber.runCycle();
  for (const bad of scrubber.state.task.corrupt) {
    console.log(`corrupt: ${bad.locator} -> ${bad.quarantined}`);
  }
} finally {
  await rm(root, { recursive: true, force: true });
}
