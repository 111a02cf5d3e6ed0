import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { runChecks } from "../../agent/commands/doctor.js";
import type { AgentConfig } from "../../agent/config/index.js";
import { REGISTRY, REGISTRY_PASSWORD, requireRegistry, tempDockerConfig } from "../support/docker.js";
import { startS3, type RunningS3 } from "../support/s3.js";

const base: AgentConfig = { queues: ["q"], max_jobs: 1, max_schedulers: 1, verbosity: 0 };
let s3: RunningS3;

beforeAll(async () => {
  await requireRegistry();
  s3 = await startS3(["doctor-contexts"]);
  vi.stubEnv("S3_ENDPOINT", s3.endpoint);
  vi.stubEnv("S3_FORCE_PATH_STYLE", "true");
  vi.stubEnv("AWS_REGION", "us-east-1");
  vi.stubEnv("AWS_ACCESS_KEY_ID", "S3RVER");
  vi.stubEnv("AWS_SECRET_ACCESS_KEY", "S3RVER");
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await s3?.stop();
});

describe("launch-agent doctor", () => {
  it("passes when the registry accepts the agent's credentials and the store exists", async () => {
    vi.stubEnv("DOCKER_CONFIG", await tempDockerConfig({ password: REGISTRY_PASSWORD }));
    const checks = await runChecks(
      { ...base, builder: { type: "kaniko", destination: `${REGISTRY}/doctor/app`, "build-context-store": "s3://doctor-contexts/ctx" } },
      { dockerAvailable: async () => true },
    );
    expect(checks.map((c) => [c.name, c.ok])).toEqual([
      ["build-context store", true],
      ["registry", true],
    ]);
  });

  it("fails each check with a message that names what to fix", async () => {
    vi.stubEnv("DOCKER_CONFIG", await tempDockerConfig({ password: "wrong-password" }));
    const checks = await runChecks(
      { ...base, builder: { type: "docker", destination: `${REGISTRY}/doctor/app`, "build-context-store": "s3://no-such-bucket-here/ctx" } },
      { dockerAvailable: async () => false },
    );
    const byName = Object.fromEntries(checks.map((c) => [c.name, c]));
    expect(byName["docker CLI"]).toMatchObject({ ok: false });
    expect(byName["docker CLI"]!.detail).toMatch(/builder.type is docker but `docker --version` fails/);
    expect(byName["build-context store"]).toMatchObject({ ok: false });
    expect(byName["build-context store"]!.detail).toMatch(/no-such-bucket-here/);
    expect(byName["registry"]).toMatchObject({ ok: false });
    expect(byName["registry"]!.detail).toMatch(new RegExp(`${REGISTRY.replace(/\./g, "\\.")}.*(401|denied|unauthorized)`, "i"));
    expect(checks.map((c) => c.detail).join("\n")).not.toContain("wrong-password");
  });

  it("says docker is optional when no builder is configured", async () => {
    const checks = await runChecks({ ...base, builder: {} }, { dockerAvailable: async () => false });
    expect(checks).toEqual([{ name: "docker CLI", ok: true, detail: expect.stringMatching(/noop builder/) }]);
  });
});
