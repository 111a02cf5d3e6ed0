import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFile, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { runStreaming } from "../../agent/builders/docker-cli.js";

/**
 * The real Docker engine and the real registry (Debian docker-registry, htpasswd auth) that
 * integration tests use. `.ci/services.sh` starts both with these same defaults. Tests that need them
 * call `requireDocker()` / `requireRegistry()`, which FAIL with instructions when they are missing.
 */
const run = promisify(execFile);

export const REGISTRY = process.env.LAUNCH_TEST_REGISTRY ?? "127.0.0.1:5000";
export const REGISTRY_USER = process.env.LAUNCH_TEST_REGISTRY_USER ?? "launch";
/** A test-only password for the throwaway local registry. */
export const REGISTRY_PASSWORD = process.env.LAUNCH_TEST_REGISTRY_PASSWORD ?? "launch-ci-password";
export const BUSYBOX = "/bin/busybox";

const HOW_TO_START = "start the test services with: sudo bash .ci/services.sh";

export async function requireDocker(): Promise<void> {
  try {
    await run("docker", ["info", "--format", "{{.ServerVersion}}"], { timeout: 20_000 });
  } catch (err) {
    throw new Error(`the Docker engine is not reachable (docker info failed: ${(err as Error).message.split("\n")[0]}); ${HOW_TO_START}`);
  }
}

export async function requireRegistry(): Promise<void> {
  let res: Response;
  try {
    res = await fetch(`http://${REGISTRY}/v2/`, {
      headers: { authorization: `Basic ${Buffer.from(`${REGISTRY_USER}:${REGISTRY_PASSWORD}`).toString("base64")}` },
      signal: AbortSignal.timeout(5_000),
    });
  } catch (err) {
    throw new Error(`no registry answers on http://${REGISTRY}/v2/ (${(err as Error).message}); ${HOW_TO_START}`);
  }
  if (res.status !== 200) {
    throw new Error(`the registry on ${REGISTRY} answered HTTP ${res.status} for user ${REGISTRY_USER}; it must use the htpasswd file written by .ci/services.sh (${HOW_TO_START})`);
  }
  // The registry must really demand credentials, or the auth tests prove nothing.
  const anon = await fetch(`http://${REGISTRY}/v2/`, { signal: AbortSignal.timeout(5_000) });
  if (anon.status !== 401) throw new Error(`the registry on ${REGISTRY} does not require authentication; ${HOW_TO_START}`);
}

/** A fresh DOCKER_CONFIG directory, optionally with an `auths` entry for the test registry. */
export async function tempDockerConfig(opts: { password?: string } = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "docker-config-"));
  const auths =
    opts.password !== undefined
      ? { [REGISTRY]: { auth: Buffer.from(`${REGISTRY_USER}:${opts.password}`).toString("base64") } }
      : {};
  await writeFile(join(dir, "config.json"), JSON.stringify({ auths }), { mode: 0o600 });
  return dir;
}

export async function docker(args: string[], opts: { dockerConfig?: string; input?: string } = {}): Promise<{ stdout: string; stderr: string }> {
  const env = { ...process.env, ...(opts.dockerConfig ? { DOCKER_CONFIG: opts.dockerConfig } : {}) };
  return run("docker", args, { env, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
}

/** `docker login` with the password on stdin, into the given DOCKER_CONFIG. */
export async function dockerLogin(host: string, dockerConfig: string, password = REGISTRY_PASSWORD): Promise<void> {
  const r = await runStreaming("docker", ["login", "--username", REGISTRY_USER, "--password-stdin", host], {
    env: { ...process.env, DOCKER_CONFIG: dockerConfig },
    input: password,
  });
  if (r.code !== 0) throw new Error(`docker login ${host} failed: ${r.tail.join(" ")}`);
}

/** A repository name no other test run uses. */
export function uniqueRepository(prefix: string): string {
  return `launch-test/${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
}

/**
 * A job directory whose Dockerfile.wandb builds a FROM-scratch image holding busybox (no base image
 * can be pulled here). `marker` goes into a file in the image, so different markers give different code.
 */
export async function busyboxJob(marker: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "busybox-job-"));
  await copyFile(BUSYBOX, join(dir, "busybox"));
  await writeFile(join(dir, "marker.txt"), `${marker}\n`);
  // No shell in a FROM-scratch image until busybox installs its applets (exec-form RUN needs none).
  await writeFile(
    join(dir, "Dockerfile.wandb"),
    [
      "FROM scratch",
      "COPY busybox /bin/busybox",
      'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
      "WORKDIR /app",
      "COPY marker.txt main.sh /app/",
      'ENTRYPOINT ["/bin/sh"]',
      "",
    ].join("\n"),
  );
  await writeFile(join(dir, "main.sh"), 'echo "marker: $(cat /app/marker.txt)"\necho "api key set: ${WANDB_API_KEY:+yes}"\necho "args: $*"\n');
  await writeFile(
    join(dir, "wandb-job.json"),
    JSON.stringify({ source_type: "artifact", source: { entrypoint: ["sh", "main.sh"] }, runtime: "3.11" }, null, 2),
  );
  return dir;
}

/** Build and push a tiny image to the test registry; returns its reference. */
export async function pushBusyboxImage(repository: string, tag: string, dockerConfig: string): Promise<string> {
  const dir = await busyboxJob(`${repository}:${tag}`);
  const ref = `${REGISTRY}/${repository}:${tag}`;
  await docker(["build", "-q", "-t", ref, "-f", join(dir, "Dockerfile.wandb"), dir]);
  await docker(["push", ref], { dockerConfig });
  return ref;
}
