/**
 * `stowage/crawl`: a rate-limited, resumable walker over a store
 * ({@linkcode Crawler}, after Tahoe-LAFS's ShareCrawler) and its built-in
 * tasks: {@linkcode countTask}, {@linkcode verifyTask} (scrub: quarantine
 * corrupt blocks) and {@linkcode expireTask} (age the store down to a byte
 * budget).
 *
 * @example Counting the blocks of a store
 * ```ts
 * import { MemoryStore } from "stowage";
 * import { countTask, Crawler } from "stowage/crawl";
 * import assert from "node:assert/strict";
 *
 * const store = new MemoryStore();
 * await store.put(new TextEncoder().encode("foo"));
 * await store.put(new TextEncoder().encode("bar"));
 * const crawler = new Crawler(store, countTask(), { allowedCpuFraction: 1 });
 * await crawler.runCycle();
 * assert.equal(crawler.state.task.lastTotal, 2);
 * ```
 *
 * @module
 */
export {
  type CrawlContext,
  Crawler,
  type CrawlerClock,
  type CrawlerOptions,
  type CrawlerProgress,
  type CrawlerState,
  type CrawlerTask,
} from "./crawler.ts";
export {
  type CountState,
  countTask,
  type ExpireState,
  expireTask,
  type VerifyState,
  verifyTask,
} from "./crawler_tasks.ts";
