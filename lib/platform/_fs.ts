/**
 * The file-system calls the file-backed stores make, gathered in one mutable
 * object. `node:fs/promises` runs natively in Node and Deno; keeping the calls
 * here lets tests inject faults (ENOSPC, EMFILE) in both runtimes without a
 * full disk. Private to the package.
 *
 * @module
 */
import * as fsp from "node:fs/promises";
import { dirname } from "node:path";

/** The file-system operations used by the stores; tests may replace members. */
export const fs: {
  open: typeof fsp.open;
  rename: typeof fsp.rename;
  unlink: typeof fsp.unlink;
  stat: typeof fsp.stat;
  mkdir: typeof fsp.mkdir;
  readdir: typeof fsp.readdir;
  utimes: typeof fsp.utimes;
  statfs: typeof fsp.statfs;
  readFile: typeof fsp.readFile;
} = {
  open: fsp.open,
  rename: fsp.rename,
  unlink: fsp.unlink,
  stat: fsp.stat,
  mkdir: fsp.mkdir,
  readdir: fsp.readdir,
  utimes: fsp.utimes,
  statfs: fsp.statfs,
  readFile: fsp.readFile,
};

/** File-system errors no retry can mend: the path or the permissions are wrong. */
const PERMANENT_CODES: ReadonlySet<string> = new Set([
  "EEXIST",
  "ENOTDIR",
  "EISDIR",
  "EACCES",
  "EPERM",
  "EROFS",
  "ENAMETOOLONG",
  "ELOOP",
]);

/** Whether a file-system error is one no retry can mend. */
export function isPermanentFsError(error: unknown): boolean {
  return PERMANENT_CODES.has(errorCode(error) ?? "");
}

/** The Node-style error code of an error, if any. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}

/** Tells whether an error means the disk (or a quota) is full. */
export function isNoSpace(error: unknown): boolean {
  const code = errorCode(error);
  return code === "ENOSPC" || code === "EDQUOT";
}

/** Reads `length` bytes at `position` of an open file into a new buffer, checking `signal` between reads. */
export async function readFully(
  handle: fsp.FileHandle,
  position: number,
  length: number,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    signal?.throwIfAborted();
    const want = Math.min(length - done, 16 * 1024 * 1024);
    const { bytesRead } = await handle.read(out, done, want, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? out : out.subarray(0, done);
}

/** Writes all of `bytes` to an open file from its start. */
export async function writeFully(handle: fsp.FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, done);
    if (bytesWritten <= 0) throw new Error("write made no progress");
    done += bytesWritten;
  }
}

/**
 * Creates a folder and any missing parents, one level at a time. Not
 * `mkdir(path, { recursive: true })`: Node's recursive mkdir spins forever on
 * a path the file system refuses with ENOENT (any path under /proc).
 *
 * @param path The folder.
 * @throws The file-system error: ENOTDIR or EEXIST when a part of the path is
 *   a file, ENOENT when the file system refuses to create it.
 */
export async function makeDirectory(path: string): Promise<void> {
  const attempt = async (): Promise<"made" | "missing-parent"> => {
    try {
      await fs.mkdir(path);
      return "made";
    } catch (error) {
      const code = errorCode(error);
      if (code === "EEXIST") {
        if ((await fs.stat(path)).isDirectory()) return "made";
        throw error;
      }
      if (code === "ENOENT" && dirname(path) !== path) return "missing-parent";
      throw error;
    }
  };
  if ((await attempt()) === "made") return;
  await makeDirectory(dirname(path));
  if ((await attempt()) === "missing-parent") {
    // The parent exists now, yet the folder cannot be made in it.
    await fs.mkdir(path);
  }
}
