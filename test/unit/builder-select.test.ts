import { describe, expect, it } from "vitest";
import { selectBuilder } from "../../agent/builders/select.js";
import type { AgentConfig } from "../../agent/config/index.js";
import type { Builder } from "../../agent/builders/types.js";
import { silentLogger } from "../../agent/log.js";
import { LaunchError } from "../../agent/errors.js";

const base: AgentConfig = { queues: ["q"], max_jobs: 1, max_schedulers: 1, verbosity: 0 };
const fakeDocker: Builder = { type: "docker", build: async () => ({ image: "x", built: true, tag: "t" }) };
const deps = (docker: boolean) => ({
  logger: silentLogger,
  dockerAvailable: async () => docker,
  createDocker: async () => fakeDocker,
});

describe("builder selection (reference §2.1)", () => {
  it("no builder block: docker when the docker CLI works", async () => {
    expect((await selectBuilder({ ...base, builder: {} }, deps(true))).type).toBe("docker");
    expect((await selectBuilder({ ...base }, deps(true))).type).toBe("docker");
    expect((await selectBuilder({ ...base, builder: null }, deps(true))).type).toBe("docker");
  });

  it("no builder block and no docker: noop", async () => {
    expect((await selectBuilder({ ...base, builder: {} }, deps(false))).type).toBe("noop");
  });

  it("an explicit type wins over docker detection", async () => {
    expect((await selectBuilder({ ...base, builder: { type: "noop" } }, deps(true))).type).toBe("noop");
    expect((await selectBuilder({ ...base, builder: { type: "docker" } }, deps(false))).type).toBe("docker");
  });

  it("a builder block without a type fails the job with the official message", async () => {
    const err = await selectBuilder({ ...base, builder: { destination: "r.example.com/x" } }, deps(true)).catch((e) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect(err.stage).toBe("build");
    expect(err.message).toMatch(/Builder type not specified/);
  });

  it("the noop builder refuses to build, saying what to configure", async () => {
    const noop = await selectBuilder({ ...base, builder: { type: "noop" } }, deps(false));
    const job = { name: "j", job: { source_type: "artifact", source: {} }, codeDir: "/x", sourceString: "s", files: {}, cleanup: async () => {} } as const;
    const err = await noop
      .build({ runId: "r", runSpec: {}, job: job as never, resource: "local-container", logger: silentLogger, warn: async () => {} })
      .catch((e) => e);
    expect(err.message).toMatch(/builder is noop.*builder\.type to docker or kaniko/);
  });
});
