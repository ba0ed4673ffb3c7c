/**
 * `Crawler`: a rate-limited, resumable walker over a block store, after
 * Tahoe-LAFS's share crawler. It visits the store's 4096 three-hex-digit
 * prefixes in order, handing each block (or each prefix's blocks) to a task.
 * It lists 256 two-digit groups, not 4096 prefixes, so a remote store (an
 * S3 bucket, a block server's index) costs 256 listings per cycle, not 4096.
 *
 * - Time slices: after working `cpuSlice` it saves its state and sleeps so that
 *   its busy time stays under `allowedCpuFraction` on average; a cycle never
 *   starts sooner than `minimumCycleTime` after the previous one started.
 * - Resumable: state (cycle, last complete prefix and block, the task's own
 *   keys) is written atomically (temp file + rename) after every slice, every
 *   cycle and on stop; after a kill it resumes from the last save, repeating
 *   at most one slice of work.
 * - Built-in tasks: {@linkcode countTask}, {@linkcode verifyTask},
 *   {@linkcode expireTask}.
 *
 * @module
 */
import { dirname } from "node:path";
import type { BlockInfo, BlockStore } from "../model/block_store.ts";
import { errorCode, fs } from "../platform/_fs.ts";
import { atomicWrite, sweepTempFiles } from "../platform/_atomic_write.ts";
import { sleep } from "../model/retry.ts";

/** Time, injectable for tests. */
export interface CrawlerClock {
  /** Current time, ms. */
  now(): number;
  /** Waits `ms`; rejects with the signal's reason when it aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock. */
export const systemClock: CrawlerClock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleep(ms, signal),
};

/** What a task's hooks receive. */
export interface CrawlContext<S> {
  /** The cycle number, from 0. */
  readonly cycle: number;
  /** The task's own state, saved with the crawler's: keep it JSON-serialisable. */
  readonly state: S;
  /** The store being crawled. */
  readonly store: BlockStore;
  /** The crawler's clock. */
  readonly clock: CrawlerClock;
  /** Aborts when the crawler stops. */
  readonly signal: AbortSignal;
}

/** A crawler task: any hooks it needs. */
export interface CrawlerTask<S = unknown> {
  /** Name, for state files and messages. */
  readonly name: string;
  /** The task's initial state. */
  initialState(): S;
  /** A cycle begins. */
  startedCycle?(ctx: CrawlContext<S>): void | Promise<void>;
  /** One block (called in digest order). */
  processBlock?(ctx: CrawlContext<S>, block: BlockInfo): void | Promise<void>;
  /** A whole prefix's blocks at once (instead of processBlock). */
  processPrefix?(ctx: CrawlContext<S>, prefix: string, blocks: BlockInfo[]): void | Promise<void>;
  /** A prefix is done. */
  finishedPrefix?(ctx: CrawlContext<S>, prefix: string): void | Promise<void>;
  /** A cycle is done. */
  finishedCycle?(ctx: CrawlContext<S>): void | Promise<void>;
}

/** Options for {@linkcode Crawler}. */
export interface CrawlerOptions {
  /** Where state is saved (JSON). Unset: state lives in memory only. */
  statePath?: string;
  /** Work this long before yielding, ms. @default {1000} */
  cpuSlice?: number;
  /** Average share of time spent working, 0 to 1. @default {0.1} */
  allowedCpuFraction?: number;
  /** Shortest time from one cycle's start to the next's, ms. @default {300000} */
  minimumCycleTime?: number;
  /** Wait before the first slice after `start()`, ms. @default {0} */
  slowStart?: number;
  /** Clock. @default {systemClock} */
  clock?: CrawlerClock;
  /** Stops the crawler. */
  signal?: AbortSignal;
  /** Called after every slice. */
  onSlice?: (progress: CrawlerProgress) => void;
}

/** The saved state. */
export interface CrawlerState<S = unknown> {
  /** Format version. */
  version: 1;
  /** The task's name. */
  taskName: string;
  /** The cycle in progress, or null between cycles. */
  cycle: number | null;
  /** The last finished cycle, or null. */
  lastCycleFinished: number | null;
  /** When the current (or last) cycle started, ms. */
  cycleStartedAt: number | null;
  /** How long the last full cycle took, ms. */
  lastCycleElapsed: number | null;
  /** Index (0-4095) of the last fully processed prefix in this cycle, -1 for none. */
  lastCompletePrefix: number;
  /** Last processed block's locator within the next prefix, or null. */
  lastCompleteBlock: string | null;
  /** The task's own state. */
  task: S;
}

/** What {@linkcode Crawler.progress} reports. */
export interface CrawlerProgress {
  /** Whether a cycle is under way (false: sleeping between cycles). */
  cycleInProgress: boolean;
  /** Percent of the current cycle's prefixes done. */
  percentDone: number;
  /** Estimated ms left in the current cycle, from the pace so far; null when unknown. */
  estimatedTimeLeft: number | null;
  /** Estimated ms per cycle; null when unknown. */
  timePerCycle: number | null;
  /** When the next slice starts, ms; null while working. */
  nextStart: number | null;
  /** Cycles finished. */
  cyclesFinished: number;
}

const PREFIXES: readonly string[] = Array.from(
  { length: 4096 },
  (_, i) => i.toString(16).padStart(3, "0"),
);

/**
 * See the module doc.
 *
 * @example Counting blocks once, saving progress
 * ```ts
 * import { MemoryStore } from "stowage";
 * import { countTask, Crawler } from "stowage/crawl";
 * import assert from "node:assert/strict";
 * import { mkdtemp } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 *
 * const store = new MemoryStore();
 * await store.put(new TextEncoder().encode("foo"));
 * const crawler = new Crawler(store, countTask(), {
 *   statePath: join(await mkdtemp(join(tmpdir(), "stowage-doc-")), "count.json"),
 *   allowedCpuFraction: 1,
 * });
 * await crawler.runCycle();
 * assert.equal(crawler.state.task.lastTotal, 1);
 * ```
 */
export class Crawler<S = unknown> {
  /** The store walked. */
  readonly store: BlockStore;
  /** What is done with each block. */
  readonly task: CrawlerTask<S>;
  #options: Required<Omit<CrawlerOptions, "statePath" | "signal" | "onSlice">> & CrawlerOptions;
  #clock: CrawlerClock;
  #state: CrawlerState<S> | undefined;
  #abort = new AbortController();
  #running: Promise<void> | undefined;
  #nextStart: number | null = null;
  #prefixTimes: number[] = [];
  /** The two-digit group listed last, so its 16 prefixes cost one listing. */
  #group: { name: string; blocks: BlockInfo[] } | undefined;

  /**
   * Creates a {@linkcode Crawler}.
   *
   * @param store The store to walk (anything with `list({ prefix })`).
   * @param task What to do with each block.
   * @param options State file, slice, CPU fraction, cycle time, clock, signal.
   * @throws {RangeError} On out-of-range options.
   */
  constructor(store: BlockStore, task: CrawlerTask<S>, options: CrawlerOptions = {}) {
    this.store = store;
    this.task = task;
    this.#options = {
      cpuSlice: options.cpuSlice ?? 1000,
      allowedCpuFraction: options.allowedCpuFraction ?? 0.1,
      minimumCycleTime: options.minimumCycleTime ?? 300_000,
      slowStart: options.slowStart ?? 0,
      clock: options.clock ?? systemClock,
      ...options,
    };
    const o = this.#options;
    if (!(o.allowedCpuFraction > 0 && o.allowedCpuFraction <= 1)) {
      throw new RangeError(
        `Cannot construct Crawler as allowedCpuFraction must be in (0, 1]: current value is ${o.allowedCpuFraction}`,
      );
    }
    for (const key of ["cpuSlice", "minimumCycleTime", "slowStart"] as const) {
      if (!(o[key] >= 0)) {
        throw new RangeError(
          `Cannot construct Crawler as ${key} must be >= 0: current value is ${o[key]}`,
        );
      }
    }
    this.#clock = o.clock;
    options.signal?.addEventListener("abort", () => this.#abort.abort(options.signal!.reason), {
      once: true,
    });
  }

  /** The state (loaded on first use). */
  get state(): Readonly<CrawlerState<S>> {
    if (this.#state === undefined) {
      throw new Error("Cannot read crawler state before it is loaded: call load() or start()");
    }
    return this.#state;
  }

  /** Loads the saved state, or starts fresh. */
  async load(): Promise<CrawlerState<S>> {
    if (this.#state !== undefined) return this.#state;
    let loaded: CrawlerState<S> | undefined;
    if (this.#options.statePath !== undefined) {
      // A save a crash cut short left its temp file beside the state.
      await sweepTempFiles(dirname(this.#options.statePath), Date.now() - 60_000);
      try {
        const text = await fs.readFile(this.#options.statePath, "utf8");
        const parsed = JSON.parse(text) as CrawlerState<S>;
        if (parsed.version === 1 && parsed.taskName === this.task.name) loaded = parsed;
      } catch (error) {
        if (errorCode(error) !== "ENOENT" && !(error instanceof SyntaxError)) throw error;
      }
    }
    this.#state = loaded ?? {
      version: 1,
      taskName: this.task.name,
      cycle: null,
      lastCycleFinished: null,
      cycleStartedAt: null,
      lastCycleElapsed: null,
      lastCompletePrefix: -1,
      lastCompleteBlock: null,
      task: this.task.initialState(),
    };
    return this.#state;
  }

  /** Saves the state atomically (temp file, data synced, rename). */
  async save(): Promise<void> {
    const path = this.#options.statePath;
    if (path === undefined || this.#state === undefined) return;
    await atomicWrite(path, new TextEncoder().encode(JSON.stringify(this.#state)));
  }

  /**
   * Starts crawling in the background: slices and sleeps until `stop()` or the
   * signal. Resolves once started; `stopped` settles when it ends.
   */
  start(): void {
    if (this.#running !== undefined) return;
    this.#running = this.#loop(true).catch((error) => {
      if (!this.#abort.signal.aborted) throw error;
    });
    this.#running.catch(() => {});
  }

  /** Settles when a started crawler has stopped (rejects if it failed). */
  get stopped(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  /** Stops after the block in hand, saving state. */
  async stop(): Promise<void> {
    this.#abort.abort(new Error("the crawler was stopped"));
    await this.#running?.catch(() => {});
    await this.save();
  }

  /**
   * Runs slices until the current (or a new) cycle is complete, sleeping
   * between slices as the CPU fraction says, but not between cycles.
   */
  async runCycle(): Promise<void> {
    await this.#loop(false);
  }

  /** Where the crawler is. */
  progress(): CrawlerProgress {
    const state = this.#state;
    const done = state ? state.lastCompletePrefix + 1 : 0;
    const inProgress = state?.cycle !== null && state?.cycle !== undefined;
    const perPrefix = this.#prefixTimes.length > 0
      ? this.#prefixTimes.reduce((a, b) => a + b, 0) / this.#prefixTimes.length
      : null;
    const timePerCycle = state?.lastCycleElapsed ??
      (perPrefix === null ? null : perPrefix * PREFIXES.length);
    return {
      cycleInProgress: inProgress,
      percentDone: inProgress ? (100 * done) / PREFIXES.length : 0,
      estimatedTimeLeft: inProgress && perPrefix !== null
        ? (PREFIXES.length - done) * perPrefix
        : null,
      timePerCycle,
      nextStart: this.#nextStart,
      cyclesFinished: state?.lastCycleFinished === null || state === undefined
        ? 0
        : state.lastCycleFinished + 1,
    };
  }

  async #loop(continuous: boolean): Promise<void> {
    const state = await this.load();
    const clock = this.#clock;
    const signal = this.#abort.signal;
    if (continuous && this.#options.slowStart > 0) {
      this.#nextStart = clock.now() + this.#options.slowStart;
      await clock.sleep(this.#options.slowStart, signal);
    }
    for (;;) {
      signal.throwIfAborted();
      this.#nextStart = null;
      const sliceStart = clock.now();
      const finishedCycle = await this.#slice(state, sliceStart);
      await this.save();
      this.#options.onSlice?.(this.progress());
      if (finishedCycle && !continuous) return;
      const worked = clock.now() - sliceStart;
      const fraction = this.#options.allowedCpuFraction;
      // worked / (worked + sleep) = fraction, bounded so a slow block never
      // means sleeping for ever.
      let pause = Math.max(0, Math.min(worked / fraction - worked, 299_000));
      if (finishedCycle) {
        const sinceStart = clock.now() - (state.cycleStartedAt ?? clock.now());
        pause = Math.max(pause, this.#options.minimumCycleTime - sinceStart);
      }
      this.#nextStart = clock.now() + pause;
      if (pause > 0) await clock.sleep(pause, signal);
    }
  }

  /** Works for one slice; returns true when it finished a cycle. */
  async #slice(state: CrawlerState<S>, sliceStart: number): Promise<boolean> {
    const clock = this.#clock;
    const signal = this.#abort.signal;
    const task = this.task;
    if (state.cycle === null) {
      state.cycle = state.lastCycleFinished === null ? 0 : state.lastCycleFinished + 1;
      state.cycleStartedAt = clock.now();
      state.lastCompletePrefix = -1;
      state.lastCompleteBlock = null;
      this.#prefixTimes = [];
      this.#group = undefined;
      await task.startedCycle?.(this.#context(state));
    }
    const ctx = this.#context(state);
    const overTime = (): boolean => clock.now() >= sliceStart + this.#options.cpuSlice;
    for (let i = state.lastCompletePrefix + 1; i < PREFIXES.length; i++) {
      const prefix = PREFIXES[i]!;
      const prefixStart = clock.now();
      const group = prefix.slice(0, 2);
      if (this.#group?.name !== group) {
        const listed: BlockInfo[] = [];
        for await (const info of this.store.list({ prefix: group, signal })) listed.push(info);
        listed.sort((a, b) => (a.locator < b.locator ? -1 : a.locator > b.locator ? 1 : 0));
        this.#group = { name: group, blocks: listed };
      }
      const blocks = this.#group.blocks.filter((b) => b.locator.startsWith(prefix));
      if (task.processPrefix !== undefined) {
        await task.processPrefix(ctx, prefix, blocks);
      } else if (task.processBlock !== undefined) {
        for (const block of blocks) {
          if (state.lastCompleteBlock !== null && block.locator <= state.lastCompleteBlock) {
            continue;
          }
          signal.throwIfAborted();
          await task.processBlock(ctx, block);
          state.lastCompleteBlock = block.locator;
          if (overTime()) return false;
        }
      }
      state.lastCompletePrefix = i;
      state.lastCompleteBlock = null;
      this.#prefixTimes.push(clock.now() - prefixStart);
      if (this.#prefixTimes.length > 64) this.#prefixTimes.shift();
      await task.finishedPrefix?.(ctx, prefix);
      if (overTime() && i < PREFIXES.length - 1) return false;
    }
    state.lastCycleElapsed = clock.now() - (state.cycleStartedAt ?? clock.now());
    await task.finishedCycle?.(ctx);
    state.lastCycleFinished = state.cycle;
    state.cycle = null;
    state.lastCompletePrefix = -1;
    state.lastCompleteBlock = null;
    return true;
  }

  #context(state: CrawlerState<S>): CrawlContext<S> {
    return {
      cycle: state.cycle ?? 0,
      state: state.task,
      store: this.store,
      clock: this.#clock,
      signal: this.#abort.signal,
    };
  }
}
