import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DockerBuilder } from "../../agent/builders/docker.js";
import type { AgentConfig } from "../../agent/config/index.js";
import { LaunchError } from "../../agent/errors.js";
import { localSourceString } from "../../agent/jobs/digest.js";
import { JobFileSchema } from "../../agent/jobs/job-file.js";
import { RunSpecSchema } from "../../agent/jobs/run-spec.js";
import { silentLogger } from "../../agent/log.js";
import { registryFor } from "../../agent/registries/index.js";
import { REGISTRY_PASSWORD, REGISTRY_USER, busyboxJob, docker, dockerLogin, requireDocker, tempDockerConfig, uniqueRepository } from "../support/docker.js";
import { TOKEN_REGISTRY, requireTokenRegistry, startTokenServer, type TokenServer } from "../support/token-server.js";

// The Bearer flow (Docker Hub, Artifact Registry, ACR) against the real docker-registry with token auth:
// the registry verifies the signed token; our existence check and docker login/push must get one.
let tokens: TokenServer;
const repository = uniqueRepository("token");
const creds = { username: REGISTRY_USER, password: REGISTRY_PASSWORD };

beforeAll(async () => {
  await requireDocker();
  await requireTokenRegistry();
  tokens = await startTokenServer();
  const dockerConfig = await tempDockerConfig();
  const dir = await busyboxJob("token-present");
  const ref = `${TOKEN_REGISTRY}/${repository}:present`;
  await docker(["build", "-q", "-t", ref, "-f", join(dir, "Dockerfile.wandb"), dir]);
  // docker's own token flow: login gets a token from our endpoint, push gets a push-scoped one.
  await dockerLogin(TOKEN_REGISTRY, dockerConfig);
  await docker(["push", ref], { dockerConfig });
});
afterAll(async () => {
  await tokens?.close();
});

describe("OCI existence check with a Bearer challenge (real registry, token auth)", () => {
  it("gets a token with Basic credentials and finds a pushed tag", async () => {
    const reg = registryFor(`${TOKEN_REGISTRY}/${repository}`, { credentials: creds });
    expect(await reg.exists("present")).toBe(true);
    expect(tokens.requests.at(-1)).toEqual({ scopes: [`repository:${repository}:pull`], accepted: true });
  });

  it("reports an absent tag as absent", async () => {
    const reg = registryFor(`${TOKEN_REGISTRY}/${repository}`, { credentials: creds });
    expect(await reg.exists("absent")).toBe(false);
  });

  it("fails on a wrong password with the registry's name and the auth failure", async () => {
    const reg = registryFor(`${TOKEN_REGISTRY}/${repository}`, { credentials: { username: REGISTRY_USER, password: "bad-token-password" } });
    const err = await reg.exists("present").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as Error).message).toContain(`registry ${TOKEN_REGISTRY} rejected the credentials (authentication failed, HTTP 401 on the token request)`);
    expect((err as Error).message).not.toContain("bad-token-password");
  });
});

describe("DockerBuilder against a token-auth registry", () => {
  it("logs in, builds, pushes, then skips", async () => {
    const dir = await busyboxJob("token-build");
    const job = {
      name: "token-job",
      job: JobFileSchema.parse(JSON.parse(await readFile(join(dir, "wandb-job.json"), "utf8"))),
      codeDir: dir,
      sourceString: await localSourceString(dir),
      files: {},
      cleanup: async () => {},
    };
    const config: AgentConfig = { queues: ["q"], max_jobs: 1, max_schedulers: 1, verbosity: 0, builder: { type: "docker", destination: `${TOKEN_REGISTRY}/${repository}-built` } };
    const request = { runId: "r", runSpec: RunSpecSchema.parse({}), job, resource: "local-container", logger: silentLogger, warn: async () => {} };
    const dockerConfig = await tempDockerConfig();
    const first = await new DockerBuilder({ config, logger: silentLogger, dockerConfigDir: dockerConfig, registryOptions: { credentials: creds } }).build(request);
    expect(first.built).toBe(true);
    const second = await new DockerBuilder({ config, logger: silentLogger, dockerConfigDir: dockerConfig, registryOptions: { credentials: creds } }).build(request);
    expect(second).toEqual({ ...first, built: false });
    expect(tokens.requests.some((r) => r.scopes.some((s) => s.endsWith(":pull,push") || s.endsWith(":push,pull")))).toBe(true);
  });
});
