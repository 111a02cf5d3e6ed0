import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import type { RegistryCredentials } from "./types.js";

/** The part of `~/.docker/config.json` that holds static registry credentials. */
const DockerConfigSchema = z.looseObject({
  auths: z
    .record(
      z.string(),
      z.looseObject({ auth: z.string().optional(), username: z.string().optional(), password: z.string().optional() }),
    )
    .optional(),
});

/** `$DOCKER_CONFIG`, else `~/.docker`, as the docker CLI resolves it. */
export function dockerConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CONFIG || join(homedir(), ".docker");
}

/** Keys under `auths` that can name a host: `host`, `https://host`, `https://host/v1/`, … */
function hostOfKey(key: string): string {
  return key.replace(/^[a-z]+:\/\//i, "").split("/")[0]!;
}

/**
 * Basic credentials for `host` from the docker config's `auths`, or null when there are none (the
 * registry is then used anonymously). Credential helpers are not consulted: they are the docker
 * CLI's business when it pushes. A malformed file is an error naming it, not a silent anonymous push.
 */
export async function dockerConfigCredentials(host: string, dir = dockerConfigDir()): Promise<RegistryCredentials | null> {
  const path = join(dir, "config.json");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${path} is not valid JSON; fix or remove it (docker login rewrites it)`);
  }
  const parsed = DockerConfigSchema.safeParse(json);
  if (!parsed.success) throw new Error(`${path} has an invalid "auths" section; fix or remove it`);
  const wanted = host === "docker.io" ? ["docker.io", "index.docker.io", "registry-1.docker.io"] : [host];
  for (const [key, entry] of Object.entries(parsed.data.auths ?? {})) {
    if (!wanted.includes(hostOfKey(key))) continue;
    if (entry.username && entry.password) return { username: entry.username, password: entry.password };
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
  }
  return null;
}
