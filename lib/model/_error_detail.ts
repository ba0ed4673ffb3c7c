/**
 * One line saying why an operation failed, with the cause that runtimes hide
 * behind a generic message (`fetch failed` → `fetch failed: connect
 * ECONNREFUSED 127.0.0.1:1`). Private to the package.
 *
 * @example
 * ```ts
 * import { errorDetail } from "./_error_detail.ts";
 *
 * const error = new TypeError("fetch failed", { cause: new Error("connect ECONNREFUSED") });
 * if (errorDetail(error) !== "fetch failed: connect ECONNREFUSED") throw new Error("wrong");
 * ```
 *
 * @module
 */

/**
 * The error's message, followed by its causes' messages.
 *
 * @param error Anything thrown.
 * @returns One line.
 */
export function errorDetail(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    const message = current instanceof Error ? current.message : String(current);
    if (message !== "" && !parts.some((p) => p.includes(message))) parts.push(message);
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(": ").replace(/\s*\n\s*/g, " ");
}
