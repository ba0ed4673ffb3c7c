/**
 * Credentials from a netrc file (`$NETRC`, else `~/.netrc`), as curl and
 * wget read it: `machine NAME login L password P`, a `default` entry for
 * every other host, `macdef` definitions skipped. Tokens may be quoted.
 * The credentials are only ever put in an `Authorization` header; nothing
 * here logs them.
 *
 * @module
 */
import { homedir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { errorCode, fs } from "./_fs.ts";

/** A login and password for a host. */
export interface NetrcCredentials {
  login: string;
  password: string;
}

/** The parsed file: machines by name, and the default entry. */
export interface Netrc {
  machines: Map<string, NetrcCredentials>;
  default: NetrcCredentials | undefined;
}

/** Parses netrc text. Entries without a password are kept with an empty one. */
export function parseNetrc(text: string): Netrc {
  const tokens = tokenize(text);
  const netrc: Netrc = { machines: new Map(), default: undefined };
  let current: { name: string | null; login: string; password: string } | undefined;
  const flush = (): void => {
    if (current === undefined) return;
    const credentials = { login: current.login, password: current.password };
    if (current.name === null) netrc.default ??= credentials;
    else if (!netrc.machines.has(current.name)) netrc.machines.set(current.name, credentials);
    current = undefined;
  };
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.macdef) continue;
    switch (token.text) {
      case "machine":
        flush();
        current = { name: (tokens[++i]?.text ?? "").toLowerCase(), login: "", password: "" };
        break;
      case "default":
        flush();
        current = { name: null, login: "", password: "" };
        break;
      case "login":
        if (current) current.login = tokens[++i]?.text ?? "";
        else i++;
        break;
      case "password":
        if (current) current.password = tokens[++i]?.text ?? "";
        else i++;
        break;
      case "account":
        i++;
        break;
      case "macdef":
        flush();
        i++;
        break;
    }
  }
  flush();
  return netrc;
}

/** Splits netrc text into tokens; a macdef's body (to the next blank line) is marked. */
function tokenize(text: string): { text: string; macdef: boolean }[] {
  const tokens: { text: string; macdef: boolean }[] = [];
  let i = 0;
  let inMacdef = false;
  let afterMacdefName = false;
  while (i < text.length) {
    if (inMacdef) {
      const end = text.indexOf("\n\n", i);
      i = end === -1 ? text.length : end + 2;
      inMacdef = false;
      continue;
    }
    const c = text[i]!;
    if (c === "#" && (i === 0 || /\s/.test(text[i - 1]!))) {
      const end = text.indexOf("\n", i);
      i = end === -1 ? text.length : end;
      continue;
    }
    if (/\s/.test(c)) {
      if (c === "\n" && afterMacdefName) {
        inMacdef = true;
        afterMacdefName = false;
      }
      i++;
      continue;
    }
    let word = "";
    if (c === '"') {
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === "\\" && i + 1 < text.length) i++;
        word += text[i++];
      }
      i++;
    } else {
      while (i < text.length && !/\s/.test(text[i]!)) {
        if (text[i] === "\\" && i + 1 < text.length) i++;
        word += text[i++];
      }
    }
    const previous = tokens[tokens.length - 1];
    tokens.push({ text: word, macdef: false });
    if (previous?.text === "macdef") afterMacdefName = true;
  }
  return tokens;
}

/** The credentials a netrc gives a host: its machine entry, else the default. */
export function netrcFor(netrc: Netrc, host: string): NetrcCredentials | undefined {
  return netrc.machines.get(host.toLowerCase()) ?? netrc.default;
}

/** The netrc file's path: `path`, else `$NETRC`, else `~/.netrc`. */
export function netrcPath(path?: string): string {
  if (path !== undefined) return path;
  let fromEnv: string | undefined;
  try {
    fromEnv = process.env.NETRC;
  } catch {
    // No permission to read the environment.
  }
  return fromEnv || join(homedir(), ".netrc");
}

/**
 * Reads and parses a netrc file; a missing one is empty.
 *
 * @throws {Error} When it exists but cannot be read.
 */
export async function readNetrc(path?: string): Promise<Netrc> {
  try {
    return parseNetrc(await fs.readFile(netrcPath(path), "utf8"));
  } catch (error) {
    if (errorCode(error) === "ENOENT") return { machines: new Map(), default: undefined };
    throw error;
  }
}
