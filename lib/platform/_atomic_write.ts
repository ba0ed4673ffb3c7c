/**
 * The one way the package replaces a file: a temp file beside it, written,
 * its data made durable (`datasync`), then renamed over the target. A reader
 * sees the old file or the whole new one, never part of it; a crash leaves at
 * most a `.tmp-` file, which {@linkcode sweepTempFiles} removes once stale.
 * Used by the file store, the disk cache and the crawler's state. Private to
 * the package.
 *
 * @example
 * ```ts
 * import { atomicWrite } from "./_atomic_write.ts";
 * import { mkdtemp, readFile } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 *
 * const path = join(await mkdtemp(join(tmpdir(), "stowage-doc-")), "state.json");
 * await atomicWrite(path, new TextEncoder().encode("{}"));
 * if ((await readFile(path, "utf8")) !== "{}") throw new Error("not written");
 * ```
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { errorCode, fs, makeDirectory, writeFully } from "./_fs.ts";

/** How every temp file the package writes begins. */
export const TEMP_PREFIX = ".tmp-";

/** Options for {@linkcode atomicWrite}. */
export interface AtomicWriteOptions {
  /** Checked before the rename: an abort publishes nothing. */
  signal?: AbortSignal;
  /** Create the folder first. @default {true} */
  mkdir?: boolean;
}

/**
 * Replaces `path` with `bytes` atomically and durably; see the module doc.
 * On any failure the temp file is removed and the error is thrown as it came
 * (the abort reason, on abort).
 *
 * @param path The file.
 * @param bytes Its new content.
 * @param options Signal, folder creation.
 */
export async function atomicWrite(
  path: string,
  bytes: Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `${TEMP_PREFIX}${basename(path)}-${crypto.randomUUID()}`);
  let handle: Awaited<ReturnType<typeof fs.open>> | undefined;
  try {
    try {
      handle = await fs.open(temp, "wx");
    } catch (error) {
      // The folder is made only when missing: a mkdir (and a stat) per file
      // cost a block server 4% of its time.
      if (!(options.mkdir ?? true) || errorCode(error) !== "ENOENT") throw error;
      await makeDirectory(dir);
      handle = await fs.open(temp, "wx");
    }
    await writeFully(handle, bytes);
    // Data (not metadata) must be durable before the rename publishes it.
    await handle.datasync();
    await handle.close();
    handle = undefined;
    options.signal?.throwIfAborted();
    await fs.rename(temp, path);
  } catch (error) {
    await handle?.close().catch(() => {});
    await fs.unlink(temp).catch(() => {});
    if (options.signal?.aborted) throw options.signal.reason;
    throw error;
  }
}

/**
 * Removes the temp files in `dir` last changed before `cutoff` (left by a
 * crash); others may belong to a write in progress. Errors are ignored: a
 * sweep is housekeeping, and another process may be sweeping too.
 *
 * @param dir The folder.
 * @param cutoff Unix milliseconds.
 */
export async function sweepTempFiles(dir: string, cutoff: number): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(TEMP_PREFIX)) continue;
    const file = join(dir, name);
    try {
      if ((await fs.stat(file)).mtimeMs < cutoff) await fs.unlink(file);
    } catch {
      // Renamed or removed meanwhile.
    }
  }
}
