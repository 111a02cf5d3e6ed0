import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino } from "pino";
import type { ResolvedJob } from "../../agent/backend/types.js";
import type { BuildRequest } from "../../agent/builders/types.js";
import { DockerBuilder, type BuildEvent } from "../../agent/builders/docker.js";
import type { AgentConfig } from "../../agent/config/index.js";
import { LaunchError } from "../../agent/errors.js";
import { localSourceString } from "../../agent/jobs/digest.js";
import { JobFileSchema } from "../../agent/jobs/job-file.js";
import { RunSpecSchema, type RunSpec } from "../../agent/jobs/run-spec.js";
import { imageTag } from "../../agent/jobs/tag.js";
import { REDACTED_PATHS } from "../../agent/log.js";
import { LocalContainerRunner } from "../../agent/runners/local-container.js";
import {
  REGISTRY,
  REGISTRY_PASSWORD,
  REGISTRY_USER,
  busyboxJob,
  docker,
  requireDocker,
  requireRegistry,
  tempDockerConfig,
  uniqueRepository,
} from "../support/docker.js";

// Real Docker engine + real registry (htpasswd): build, tag by source hash, push, pull back by digest,
// skip on the second run, run the image with the local-container runner.

function captureLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { logger: pino({ level: "debug", redact: { paths: REDACTED_PATHS, censor: "[redacted]" } }, stream), lines };
}

async function resolvedJob(dir: string): Promise<ResolvedJob> {
  const job = JobFileSchema.parse(JSON.parse(await readFile(join(dir, "wandb-job.json"), "utf8")));
  return { name: "busybox-job", job, codeDir: dir, sourceString: await localSourceString(dir), files: {}, cleanup: async () => {} };
}

function config(repository: string): AgentConfig {
  return { queues: ["q"], max_jobs: 1, max_schedulers: 1, verbosity: 0, builder: { type: "docker", destination: `${REGISTRY}/${repository}` } };
}

function request(job: ResolvedJob, logger: BuildRequest["logger"], warnings: string[] = [], runSpec: RunSpec = RunSpecSchema.parse({})): BuildRequest {
  return { runId: "r1", runSpec, job, resource: "local-container", logger, warn: async (m) => void warnings.push(m) };
}

async function manifestDigest(repository: string, tag: string): Promise<string> {
  const res = await fetch(`http://${REGISTRY}/v2/${repository}/manifests/${tag}`, {
    method: "HEAD",
    headers: {
      accept: "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json",
      authorization: `Basic ${Buffer.from(`${REGISTRY_USER}:${REGISTRY_PASSWORD}`).toString("base64")}`,
    },
  });
  expect(res.status).toBe(200);
  return res.headers.get("docker-content-digest")!;
}

let jobDir: string;
let dockerConfig: string;
const repository = uniqueRepository("build");
const creds = { username: REGISTRY_USER, password: REGISTRY_PASSWORD };

beforeAll(async () => {
  await requireDocker();
  await requireRegistry();
  jobDir = await busyboxJob("first");
  // Empty docker config: the builder must log in itself (password on stdin).
  dockerConfig = await tempDockerConfig();
});
afterAll(async () => {
  await rm(jobDir, { recursive: true, force: true });
});

describe("DockerBuilder with the real engine and registry", () => {
  let firstImage: string;
  let firstTag: string;

  it("builds, tags <destination>:<source hash>, pushes, and the image pulls back by digest", async () => {
    const { logger, lines } = captureLogger();
    const events: BuildEvent[] = [];
    const builder = new DockerBuilder({ config: config(repository), logger, dockerConfigDir: dockerConfig, registryOptions: { credentials: creds }, onBuild: (e) => events.push(e) });
    const job = await resolvedJob(jobDir);
    const result = await builder.build(request(job, logger));
    const dockerfile = await readFile(join(jobDir, "Dockerfile.wandb"), "utf8");
    expect(result.built).toBe(true);
    expect(result.tag).toBe(imageTag(job.sourceString, dockerfile));
    expect(result.image).toBe(`${REGISTRY}/${repository}:${result.tag}`);
    expect(builder.builds).toBe(1);
    expect(events).toEqual([{ image: result.image, tag: result.tag, built: true }]);
    // The build log reached the agent log; the password never did.
    expect(lines.join("")).toMatch(/Successfully (built|tagged)|naming to|writing image/);
    expect(lines.join("")).not.toContain(REGISTRY_PASSWORD);
    // docker login stored credentials for the registry host in the builder's docker config.
    expect(JSON.parse(await readFile(join(dockerConfig, "config.json"), "utf8")).auths).toHaveProperty([REGISTRY]);

    const digest = await manifestDigest(repository, result.tag);
    await docker(["rmi", result.image]);
    await docker(["pull", `${REGISTRY}/${repository}@${digest}`], { dockerConfig });
    const { stdout } = await docker(["run", "--rm", `${REGISTRY}/${repository}@${digest}`, "-c", "cat /app/marker.txt"]);
    expect(stdout.trim()).toBe("first");
    firstImage = result.image;
    firstTag = result.tag;
  });

  it("skips the build when the tag is in the registry, across builder restarts, and runs the existing image", async () => {
    const { logger } = captureLogger();
    const events: BuildEvent[] = [];
    const builder = new DockerBuilder({ config: config(repository), logger, dockerConfigDir: dockerConfig, registryOptions: { credentials: creds }, onBuild: (e) => events.push(e) });
    const job = await resolvedJob(jobDir);
    const result = await builder.build(request(job, logger));
    expect(result).toEqual({ image: firstImage, built: false, tag: firstTag, command: ["sh", "main.sh"] });
    expect(builder.builds).toBe(0);
    expect(events).toEqual([{ image: firstImage, tag: firstTag, built: false }]);

    // The image is not in the local engine any more (removed above): docker run pulls it from the registry.
    await docker(["rmi", firstImage]).catch(() => undefined);
    const run = captureLogger();
    const runner = new LocalContainerRunner({ dockerConfigDir: dockerConfig });
    const secret = "test-api-key-value-123";
    const launch = {
      runId: "run12345",
      runSpec: RunSpecSchema.parse({}),
      job,
      image: result.image,
      entrypoint: ["sh", "main.sh"],
      args: ["--steps", "2"],
      env: { WANDB_API_KEY: secret, WANDB_RUN_ID: "run12345" },
      logger: run.logger,
    };
    expect(runner.commandFor(launch, "c").join(" ")).not.toContain(secret);
    const handle = await runner.run(launch);
    const outcome = await handle.wait();
    expect(outcome).toMatchObject({ status: "finished", exitCode: 0 });
    const output = run.lines.join("");
    expect(output).toContain("marker: first");
    expect(output).toContain("api key set: yes");
    expect(output).toContain("args: --steps 2");
    expect(output).not.toContain(secret);
  });

  it("gives a new tag when one byte of the code changes", async () => {
    const before = (await resolvedJob(jobDir)).sourceString;
    await writeFile(join(jobDir, "marker.txt"), "firsT\n");
    const after = await resolvedJob(jobDir);
    expect(after.sourceString).not.toBe(before);
    const { logger } = captureLogger();
    const builder = new DockerBuilder({ config: config(repository), logger, dockerConfigDir: dockerConfig, registryOptions: { credentials: creds } });
    const result = await builder.build(request(after, logger));
    expect(result.built).toBe(true);
    expect(result.tag).not.toBe(firstTag);
    await writeFile(join(jobDir, "marker.txt"), "first\n");
    expect((await resolvedJob(jobDir)).sourceString).toBe(before);
  });

  it("fails with the registry's name and the auth failure when the password is wrong", async () => {
    const { logger, lines } = captureLogger();
    const builder = new DockerBuilder({
      config: config(repository),
      logger,
      dockerConfigDir: await tempDockerConfig(),
      registryOptions: { credentials: { username: REGISTRY_USER, password: "wrong-password-xyz" } },
    });
    const err = await builder.build(request(await resolvedJob(jobDir), logger)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as LaunchError).stage).toBe("build");
    expect((err as Error).message).toContain(`registry ${REGISTRY}`);
    expect((err as Error).message).toContain("authentication failed");
    expect((err as Error).message).not.toContain("wrong-password-xyz");
    expect(lines.join("")).not.toContain("wrong-password-xyz");
    expect(builder.builds).toBe(0);
  });

  it("fails a broken Dockerfile at stage build with the end of the build log", async () => {
    const dir = await busyboxJob("broken");
    await writeFile(join(dir, "Dockerfile.wandb"), "FROM scratch\nCOPY does-not-exist /x\n");
    const { logger } = captureLogger();
    const builder = new DockerBuilder({ config: config(repository), logger, dockerConfigDir: dockerConfig, registryOptions: { credentials: creds } });
    const err = await builder.build(request(await resolvedJob(dir), logger)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as LaunchError).stage).toBe("build");
    expect((err as Error).message).toMatch(/docker build of .* failed \(exit 1\):[\s\S]*does-not-exist/);
    await rm(dir, { recursive: true, force: true });
  });

  it("turns the failed-packages marker into a warning, not a failure", async () => {
    const dir = await busyboxJob("warn");
    await writeFile(
      join(dir, "Dockerfile.wandb"),
      // A unique command so the step never comes from the build cache (which would print nothing).
      `FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "echo \'ERROR: Failed to install: torch,foo. During automated build process.\' >&2; echo ${Date.now()}"]\n`,
    );
    const { logger } = captureLogger();
    const warnings: string[] = [];
    const builder = new DockerBuilder({ config: config(repository), logger, dockerConfigDir: dockerConfig, registryOptions: { credentials: creds } });
    const result = await builder.build(request(await resolvedJob(dir), logger, warnings));
    expect(result.built).toBe(true);
    expect(warnings).toEqual(["Some packages were not successfully installed during the build: torch,foo"]);
    await rm(dir, { recursive: true, force: true });
  });

  it("without a destination tags by job name and does not push", async () => {
    const { logger } = captureLogger();
    const cfg: AgentConfig = { queues: ["q"], max_jobs: 1, max_schedulers: 1, verbosity: 0, builder: { type: "docker" } };
    const builder = new DockerBuilder({ config: cfg, logger, dockerConfigDir: dockerConfig });
    const job = { ...(await resolvedJob(jobDir)), name: "Ent/Proj/busybox-job:latest" };
    const result = await builder.build(request(job, logger));
    expect(result.image).toBe(`ent__proj__busybox-job:${result.tag}`);
    await docker(["image", "inspect", result.image]);
    // Second time: found in the local engine, not rebuilt.
    const again = await builder.build(request(job, logger));
    expect(again.built).toBe(false);
    await docker(["rmi", result.image]);
  });
});

describe("LocalContainerRunner", () => {
  it("kills the container on cancel and reports stopped; a non-zero exit is failed", async () => {
    const dir = await busyboxJob("runner");
    const tag = `${REGISTRY}/${repository}:runner`;
    await docker(["build", "-q", "-t", tag, "-f", join(dir, "Dockerfile.wandb"), dir]);
    const { logger } = captureLogger();
    const job = await resolvedJob(dir);
    const runner = new LocalContainerRunner();
    const base = { runSpec: RunSpecSchema.parse({}), job, image: tag, args: [], env: {}, logger };
    const slow = await runner.run({ ...base, runId: "slow0001", entrypoint: ["sleep", "60"] });
    await new Promise((r) => setTimeout(r, 1500));
    const started = Date.now();
    await slow.cancel("stopped");
    expect(await slow.wait()).toMatchObject({ status: "stopped" });
    expect(Date.now() - started).toBeLessThan(15_000);
    const failing = await runner.run({ ...base, runId: "fail0001", entrypoint: ["sh", "-c", "echo boom; exit 3"] });
    expect(await failing.wait()).toMatchObject({ status: "failed", exitCode: 3, message: expect.stringContaining("boom") });
    await docker(["rmi", tag]);
    await rm(dir, { recursive: true, force: true });
  });

  it("runs an image job from the local engine when refreshing it from the registry fails", async () => {
    const dir = await busyboxJob("image-job");
    const tag = `${REGISTRY}/${uniqueRepository("never-pushed")}:v1`;
    await docker(["build", "-q", "-t", tag, "-f", join(dir, "Dockerfile.wandb"), dir]);
    const { logger, lines } = captureLogger();
    const job = { ...(await resolvedJob(dir)), job: JobFileSchema.parse({ source_type: "image", source: { image: tag } }) };
    const runner = new LocalContainerRunner({ dockerConfigDir: await tempDockerConfig() });
    const handle = await runner.run({ runId: "img00001", runSpec: RunSpecSchema.parse({}), job, image: tag, entrypoint: ["sh", "-c", "cat /app/marker.txt"], args: [], env: {}, logger });
    expect(await handle.wait()).toMatchObject({ status: "finished", exitCode: 0 });
    expect(lines.join("")).toContain("docker pull failed; using the local image");
    expect(lines.join("")).toContain("image-job");
    await docker(["rmi", tag]);
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses resource_args outside the docker allow-list", async () => {
    const { logger } = captureLogger();
    const runner = new LocalContainerRunner();
    const job = await resolvedJob(jobDir);
    const launch = {
      runId: "x",
      runSpec: RunSpecSchema.parse({ resource_args: { "local-container": { privileged: "true" } } }),
      job,
      image: "img",
      entrypoint: [],
      args: [],
      env: {},
      logger,
    };
    expect(() => runner.commandFor(launch, "c")).toThrow(/Unsupported resource_args.local-container option 'privileged'/);
    const ok = { ...launch, runSpec: RunSpecSchema.parse({ resource_args: { "local-container": { memory: "1g", env: ["A=1", "B=2"] } } }) };
    expect(runner.commandFor(ok, "c")).toEqual(["run", "--rm", "--name", "c", "--memory", "1g", "--env", "A=1", "--env", "B=2", "img"]);
  });
});

describe("build-plan --check against the real registry", () => {
  it("says the tag exists after a build, and not after the code changes", async () => {
    const { planForJobDir, formatPlan } = await import("../../agent/commands/build-plan.js");
    const dir = await busyboxJob("plan-check");
    const configFile = join(dir, "..", `${dir.split("/").pop()}.yaml`);
    await writeFile(configFile, `builder:\n  type: docker\n  destination: ${REGISTRY}/${repository}\n`);
    const { logger } = captureLogger();
    const builder = new DockerBuilder({ config: config(repository), logger, dockerConfigDir: dockerConfig, registryOptions: { credentials: creds } });
    const built = await builder.build(request(await resolvedJob(dir), logger));
    const saved = process.env.DOCKER_CONFIG;
    process.env.DOCKER_CONFIG = dockerConfig; // build-plan reads credentials from the docker config, as docker does
    try {
      const before = await planForJobDir({ job: dir, config: configFile, check: true });
      expect(before.plan.tag).toBe(built.tag);
      expect(before.exists).toBe(true);
      expect(formatPlan(before.plan, before.exists)).toContain("in registry:    yes — the build would be skipped");
      await writeFile(join(dir, "marker.txt"), "plan-checK\n");
      const after = await planForJobDir({ job: dir, config: configFile, check: true });
      expect(after.exists).toBe(false);
    } finally {
      if (saved === undefined) delete process.env.DOCKER_CONFIG;
      else process.env.DOCKER_CONFIG = saved;
      await rm(dir, { recursive: true, force: true });
      await rm(configFile, { force: true });
    }
  });
});
