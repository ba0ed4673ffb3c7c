/**
 * Yielding to the event loop. A stream pipeline runs as a chain of promise
 * jobs that never returns to the loop while data flows, so I/O completions
 * (a block's file write, an HTTP response) wait until backpressure stops the
 * flow. A macrotask turn (setImmediate, unclamped, in Node and Deno) lets them
 * in. Private to the package.
 *
 * @module
 */
import { setImmediate } from "node:timers";

/** Resolves after the event loop has had a turn at I/O. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
