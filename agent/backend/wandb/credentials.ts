import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { LaunchError } from "../../errors.js";

/** The public W&B host, used when nothing else names one (reference §1.3). */
export const DEFAULT_BASE_URL = "https://api.wandb.ai";

export interface CredentialSources {
  env: NodeJS.ProcessEnv;
  /** Home directory for `~/.netrc` and `~/.config/wandb/settings`; defaults to the OS one. */
  homeDir?: string;
}

export interface WandbCredentials {
  baseUrl: string;
  apiKey: string;
  /** Where the key came from, for log lines that must not show the key itself. */
  keySource: "WANDB_API_KEY" | "netrc";
}

function readOptional(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

/** `base_url` from the `[default]` section of the wandb settings file written by `wandb login --host`. */
export function settingsFileBaseUrl(text: string): string | null {
  let section = "";
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!.trim();
      continue;
    }
    const kv = /^([^=:]+)[=:](.*)$/.exec(line);
    if (section === "default" && kv && kv[1]!.trim() === "base_url") return kv[2]!.trim() || null;
  }
  return null;
}

/** The W&B host: WANDB_BASE_URL, else the settings file, else api.wandb.ai. Trailing slashes removed. */
export function resolveBaseUrl(src: CredentialSources): string {
  const fromEnv = src.env.WANDB_BASE_URL?.trim();
  let url = fromEnv || null;
  if (!url) {
    const dir = src.env.WANDB_CONFIG_DIR || join(src.homeDir ?? homedir(), ".config", "wandb");
    const text = readOptional(join(dir, "settings"));
    url = text ? settingsFileBaseUrl(text) : null;
  }
  url ??= DEFAULT_BASE_URL;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new LaunchError(
      `WANDB_BASE_URL ${JSON.stringify(url)} is not a URL; set it to your W&B host, e.g. https://api.wandb.ai`,
    );
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new LaunchError(`WANDB_BASE_URL ${JSON.stringify(url)} must start with http:// or https://`);
  }
  return url.replace(/\/+$/, "");
}

/** The password of the `machine <host>` entry (or `default`) of a netrc document. */
export function netrcPassword(text: string, host: string): string | null {
  const tokens = text
    .split(/\n/)
    .filter((l) => !l.trimStart().startsWith("#"))
    .join("\n")
    .split(/\s+/)
    .filter(Boolean);
  let current: string | null = null;
  const found = new Map<string, string>();
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === "machine") current = tokens[++i] ?? null;
    else if (t === "default") current = "\0default";
    else if (t === "password" && current !== null) {
      const value = tokens[++i];
      if (value !== undefined && !found.has(current)) found.set(current, value);
    } else if (t === "login" || t === "account") i++;
    else if (t === "macdef") current = null; // macro bodies are not credentials
  }
  return found.get(host) ?? found.get("\0default") ?? null;
}

/**
 * Host and key for the GraphQL API (reference §1.3): key from WANDB_API_KEY, else the `~/.netrc`
 * entry of the API host (what `wandb login` writes). Throws a LaunchError saying how to log in.
 */
export function resolveCredentials(src: CredentialSources): WandbCredentials {
  const baseUrl = resolveBaseUrl(src);
  const envKey = src.env.WANDB_API_KEY?.trim();
  if (envKey) return { baseUrl, apiKey: envKey, keySource: "WANDB_API_KEY" };
  const host = new URL(baseUrl).hostname;
  const netrcPath = src.env.NETRC || join(src.homeDir ?? homedir(), ".netrc");
  const text = readOptional(netrcPath);
  const key = text ? netrcPassword(text, host) : null;
  if (key) return { baseUrl, apiKey: key, keySource: "netrc" };
  throw new LaunchError(
    `No W&B API key found for ${host}: set WANDB_API_KEY or run \`wandb login\` (which writes ${netrcPath}).`,
  );
}
