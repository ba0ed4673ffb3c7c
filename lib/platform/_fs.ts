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

/** A new file, written from its start in order: what atomic writes need. */
export interface NewFile {
  /** Appends all of `bytes`. */
  write(bytes: Uint8Array): Promise<void>;
  /** Makes the data (not the metadata) durable. */
  datasync(): Promise<void>;
  close(): Promise<void>;
}

/** The part of Deno's file API {@linkcode createFile} uses. */
interface DenoFileApi {
  open(
    path: string,
    options: { write: true; createNew: true },
  ): Promise<{
    write(bytes: Uint8Array): Promise<number>;
    syncData(): Promise<void>;
    close(): void;
  }>;
}

const deno = (globalThis as unknown as { Deno?: DenoFileApi }).Deno;

/**
 * Creates `path` for writing; it must not exist yet (`wx`). Under Deno through
 * Deno's own file API: Deno's `node:fs` `FileHandle.write` runs the write on
 * the main thread (28% of a loaded block server's main-thread time, in a
 * profile, as the kernel copied pages), where `Deno.FsFile`'s runs on a
 * blocking-pool thread.
 */
async function createFile(path: string): Promise<NewFile> {
  if (deno !== undefined) {
    const file = await deno.open(path, { write: true, createNew: true });
    return {
      async write(bytes) {
        for (let done = 0; done < bytes.length;) {
          const written = await file.write(bytes.subarray(done));
          if (written <= 0) throw new Error("write made no progress");
          done += written;
        }
      },
      datasync: () => file.syncData(),
      close() {
        try {
          file.close();
          return Promise.resolve();
        } catch (error) {
          return Promise.reject(error);
        }
      },
    };
  }
  const handle = await fsp.open(path, "wx");
  let at = 0;
  return {
    async write(bytes) {
      for (let done = 0; done < bytes.length;) {
        const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, at);
        if (bytesWritten <= 0) throw new Error("write made no progress");
        done += bytesWritten;
        at += bytesWritten;
      }
    },
    datasync: () => handle.datasync(),
    close: () => handle.close(),
  };
}

/** The file-system operations used by the stores; tests may replace members. */
export const fs: {
  createFile: typeof createFile;
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
  createFile,
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
