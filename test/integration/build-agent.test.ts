import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalBackend } from "../../agent/backend/local/index.js";
import { LocalQueueStore } from "../../agent/backend/local/store.js";
import { DockerBuilder, type BuildEvent } from "../../agent/builders/docker.js";
import { pushLocal } from "../../agent/commands/local.js";
import type { AgentConfig } from "../../agent/config/index.js";
import { composeAgent } from "../../agent/main.js";
import { silentLogger } from "../../agent/log.js";
import { prepareJobSource } from "../../agent/jobs/sources.js";
import { publishRepo, startGitServer } from "../support/git-server.js";
import {
  REGISTRY,
  REGISTRY_PASSWORD,
  REGISTRY_USER,
  busyboxJob,
  requireDocker,
  requireRegistry,
  tempDockerConfig,
  uniqueRepository,
} from "../support/docker.js";

// The whole agent on the local queue with the real engine and registry: a code job is built once,
// pushed, run in a container; the same job again is not rebuilt; a wrong password fails the item.
let root: string;
let jobDir: string;
let dockerConfig: string;
const repository = uniqueRepository("agent");
const config: AgentConfig = {
  queues: ["images"],
  max_jobs: 1,
  max_schedulers: 1,
  verbosity: 0,
  builder: { type: "docker", destination: `${REGISTRY}/${repository}` },
};

beforeAll(async () => {
  await requireDocker();
  await requireRegistry();
  root = await mkdtemp(join(tmpdir(), "build-agent-"));
  jobDir = await busyboxJob("agent-run");
  dockerConfig = await tempDockerConfig();
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await rm(jobDir, { recursive: true, force: true });
});

/** One agent process lifetime: a fresh builder (nothing remembered between "restarts"), run until idle. */
async function runAgentOnce(password: string, gitEnv?: NodeJS.ProcessEnv): Promise<BuildEvent[]> {
  const events: BuildEvent[] = [];
  const builder = new DockerBuilder({
    config,
    logger: silentLogger,
    dockerConfigDir: dockerConfig,
    registryOptions: { credentials: { username: REGISTRY_USER, password } },
    onBuild: (e) => events.push(e),
  });
  const agent = composeAgent({
    config,
    backend: new LocalBackend({ root: join(root, "q"), logger: silentLogger }),
    logger: silentLogger,
    overrides: {
      exitWhenIdle: true,
      pollIntervalMs: 100,
      selectBuilder: async () => builder,
      ...(gitEnv ? { prepareJobSource: (job, logger) => prepareJobSource(job, { logger, env: gitEnv }) } : {}),
    },
  });
  expect(await agent.run()).toBe(0);
  return events;
}

describe("agent: build, skip, run", () => {
  it("builds a code job once, runs it in a container, and reuses the image after a restart", async () => {
    const store = new LocalQueueStore(join(root, "q"));
    const first = await pushLocal(join(root, "q"), { queue: "images", job: jobDir, resource: "local-container" });
    const built = await runAgentOnce(REGISTRY_PASSWORD);
    const r1 = await store.get("images", first.id);
    expect(r1?.state, r1?.message).toBe("finished");
    expect(built).toHaveLength(1);
    expect(built[0]!.built).toBe(true);
    expect(r1?.image).toBe(built[0]!.image);
    expect(built[0]!.image).toMatch(new RegExp(`^${REGISTRY}/${repository}:[0-9a-f]{8}$`));

    const second = await pushLocal(join(root, "q"), { queue: "images", job: jobDir, resource: "local-container" });
    const again = await runAgentOnce(REGISTRY_PASSWORD);
    const r2 = await store.get("images", second.id);
    expect(r2?.state, r2?.message).toBe("finished");
    expect(again).toEqual([{ image: built[0]!.image, tag: built[0]!.tag, built: false }]);

    // One changed byte in the job's code: a new tag, built again.
    await writeFile(join(jobDir, "marker.txt"), "agent-ruN\n");
    const third = await pushLocal(join(root, "q"), { queue: "images", job: jobDir, resource: "local-container" });
    const changed = await runAgentOnce(REGISTRY_PASSWORD);
    expect((await store.get("images", third.id))?.state).toBe("finished");
    expect(changed).toHaveLength(1);
    expect(changed[0]!.built).toBe(true);
    expect(changed[0]!.tag).not.toBe(built[0]!.tag);
  });

  it("fails the item with the registry's name and the auth failure when the password is wrong", async () => {
    const store = new LocalQueueStore(join(root, "q"));
    const item = await pushLocal(join(root, "q"), { queue: "images", job: jobDir, resource: "local-container" });
    const events = await runAgentOnce("wrong-password-abc");
    const record = await store.get("images", item.id);
    expect(record?.state).toBe("failed");
    expect(record?.message).toContain(`registry ${REGISTRY}`);
    expect(record?.message).toContain("authentication failed");
    expect(record?.message).not.toContain("wrong-password-abc");
    expect(events).toEqual([]);
  });

  it("fetches a git job's commit, builds it, and runs it; an image job runs without a build", async () => {
    const server = await startGitServer();
    try {
      const busybox = await readFile(join(jobDir, "busybox"));
      const [commit] = await publishRepo(server, "busybox-app", [{}], async (work) => {
        for (const f of ["Dockerfile.wandb", "main.sh"]) await copyFile(join(jobDir, f), join(work, f));
        await writeFile(join(work, "marker.txt"), "from git\n");
        await writeFile(join(work, "busybox"), busybox, { mode: 0o755 });
      });
      const repoJobDir = join(root, "repo-job");
      await mkdir(repoJobDir, { recursive: true });
      await writeFile(
        join(repoJobDir, "wandb-job.json"),
        JSON.stringify({ source_type: "repo", source: { git: { remote: server.url("busybox-app.git"), commit }, entrypoint: ["sh", "main.sh"] } }),
      );
      const store = new LocalQueueStore(join(root, "q"));
      const repoItem = await pushLocal(join(root, "q"), { queue: "images", job: repoJobDir, resource: "local-container" });
      const events = await runAgentOnce(REGISTRY_PASSWORD, server.env);
      const record = await store.get("images", repoItem.id);
      expect(record?.state, record?.message).toBe("finished");
      expect(events).toHaveLength(1);
      expect(events[0]!.built).toBe(true);

      // An image job: the image runs as it is, nothing is built.
      const imageJobDir = join(root, "image-job");
      await mkdir(imageJobDir, { recursive: true });
      await writeFile(join(imageJobDir, "wandb-job.json"), JSON.stringify({ source_type: "image", source: { image: events[0]!.image, entrypoint: ["sh", "main.sh"] } }));
      const imageItem = await pushLocal(join(root, "q"), { queue: "images", job: imageJobDir, resource: "local-container" });
      const none = await runAgentOnce(REGISTRY_PASSWORD);
      const imageRecord = await store.get("images", imageItem.id);
      expect(imageRecord?.state, imageRecord?.message).toBe("finished");
      expect(imageRecord?.image).toBe(events[0]!.image);
      expect(none).toEqual([]);
    } finally {
      await server.close();
    }
  });
});
