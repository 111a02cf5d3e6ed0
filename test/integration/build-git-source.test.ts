import { existsSync } from "node:fs";
import { mkdtemp, readFile, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ResolvedJob } from "../../agent/backend/types.js";
import { LaunchError } from "../../agent/errors.js";
import { JobFileSchema } from "../../agent/jobs/job-file.js";
import { checkGitRemote, prepareJobSource, redactRemote } from "../../agent/jobs/sources.js";
import { silentLogger } from "../../agent/log.js";
import { git, publishRepo, startGitServer, type GitServer } from "../support/git-server.js";

// Repo jobs fetched with real git from a real smart-HTTP server (git http-backend over TLS on 127.0.0.1).
let server: GitServer;
let commits: string[];

beforeAll(async () => {
  server = await startGitServer();
  await publishRepo(server, "lib", [{ "lib.py": "LIB = 1\n" }]);
  commits = await publishRepo(
    server,
    "app",
    [{ "train.py": "print('v1')\n" }, { "train.py": "print('v2')\n", "extra.txt": "new\n" }],
    async (work) => {
      // A submodule served by the same https server; the agent must fetch it recursively.
      await git(["-c", "protocol.file.allow=always", "submodule", "add", "-q", server.url("lib.git"), "vendor/lib"], work, server.env);
    },
  );
});
afterAll(async () => {
  await server?.close();
});

async function repoJob(remote: string, commit: string | null, files: ResolvedJob["files"] = {}): Promise<ResolvedJob> {
  const codeDir = await mkdtemp(join(tmpdir(), "repo-job-"));
  const job = JobFileSchema.parse({ source_type: "repo", source: { entrypoint: ["python", "train.py"], git: { remote, commit } }, runtime: "3.11" });
  return { name: "ent/proj/repo-job:v0", job, codeDir, sourceString: "repo-job:v0:vv0", files, cleanup: async () => {} };
}

describe("repo job sources", () => {
  it("checks out the given commit with its submodules", async () => {
    const job = await repoJob(server.url("app.git"), commits[0]!);
    const ready = await prepareJobSource(job, { logger: silentLogger, env: server.env });
    expect(ready.codeDir).toBe(job.codeDir);
    expect(await readFile(join(ready.codeDir, "train.py"), "utf8")).toBe("print('v1')\n");
    expect(existsSync(join(ready.codeDir, "extra.txt"))).toBe(false);
    expect(await git(["rev-parse", "HEAD"], ready.codeDir)).toBe(commits[0]);
    expect(await readFile(join(ready.codeDir, "vendor", "lib", "lib.py"), "utf8")).toBe("LIB = 1\n");
  });

  it("takes main when the job names no commit, then applies diff.patch and copies requirements.frozen.txt", async () => {
    const extras = await mkdtemp(join(tmpdir(), "job-artifact-"));
    await writeFile(
      join(extras, "diff.patch"),
      ["diff --git a/train.py b/train.py", "--- a/train.py", "+++ b/train.py", "@@ -1 +1 @@", "-print('v2')", "+print('patched')", ""].join("\n"),
    );
    await writeFile(join(extras, "requirements.frozen.txt"), "wandb==0.19.0\n");
    const job = await repoJob(server.url("app.git"), null, { diffPatch: join(extras, "diff.patch"), requirementsFrozen: join(extras, "requirements.frozen.txt") });
    const ready = await prepareJobSource(job, { logger: silentLogger, env: server.env });
    expect(await git(["rev-parse", "HEAD"], ready.codeDir)).toBe(commits[1]);
    expect(await readFile(join(ready.codeDir, "train.py"), "utf8")).toBe("print('patched')\n");
    expect(await readFile(join(ready.codeDir, "requirements.frozen.txt"), "utf8")).toBe("wandb==0.19.0\n");
    // A W&B job keeps the official source string: its job version pins the commit.
    expect(ready.sourceString).toBe("repo-job:v0:vv0");
  });

  it("adds the checked-out commit to a local job's source string, so a moved branch gives a new tag", async () => {
    const job = { ...(await repoJob(server.url("app.git"), "main")), sourceString: "local:repo-job:abc" };
    const ready = await prepareJobSource(job, { logger: silentLogger, env: server.env });
    expect(ready.sourceString).toBe(`local:repo-job:abc:git:${commits[1]}`);
  });

  it("fails clearly on a commit the repository does not have", async () => {
    const job = await repoJob(server.url("app.git"), "0".repeat(40));
    await expect(prepareJobSource(job, { logger: silentLogger, env: server.env })).rejects.toThrow(
      `commit ${"0".repeat(40)} (source.git.commit) was not found in ${server.url("app.git")}`,
    );
  });

  it.each([
    ["file://", () => `file://${server.root}/app.git`],
    ["ext::", () => "ext::sh -c touch% /tmp/pwned-by-ext"],
    ["a local path", () => join(server.root, "app.git")],
    ["git://", () => "git://127.0.0.1/app.git"],
    ["http://", () => "http://127.0.0.1/app.git"],
    ["an option", () => "--upload-pack=touch /tmp/pwned"],
  ])("refuses %s remotes before running git", async (_what, remote) => {
    const job = await repoJob(remote(), null);
    const err = await prepareJobSource(job, { logger: silentLogger, env: server.env }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as LaunchError).stage).toBe("agent");
    expect((err as Error).message).toMatch(/^Refusing to fetch git remote .*: only https:\/\/, ssh:\/\/, and git@host:path remotes are allowed/);
    expect(await readdir(job.codeDir)).toEqual([]);
  });

  it("refuses a file:// submodule even when the top-level remote is allowed", async () => {
    await publishRepo(server, "evil", [{ "a.txt": "a\n" }], async (w) => {
      await git(["-c", "protocol.file.allow=always", "submodule", "add", "-q", `file://${server.root}/lib.git`, "sub"], w);
    });
    const job = await repoJob(server.url("evil.git"), null);
    await expect(prepareJobSource(job, { logger: silentLogger, env: server.env })).rejects.toThrow(/Unable to update submodules for git repository/);
  });

  it("accepts https, ssh and scp-like remotes and hides credentials in messages", () => {
    expect(checkGitRemote("https://github.com/a/b.git")).toBe("https://github.com/a/b.git");
    expect(checkGitRemote("ssh://git@github.com/a/b.git")).toBe("ssh://git@github.com/a/b.git");
    expect(checkGitRemote("git@github.com:a/b.git")).toBe("git@github.com:a/b.git");
    expect(redactRemote("https://user:s3cret@host/r.git")).toBe("https://***@host/r.git");
    expect(() => checkGitRemote("http://user:s3cret@host/r.git")).toThrow(/^(?!.*s3cret)/);
  });

  it("leaves image and artifact jobs untouched", async () => {
    const job = await repoJob("unused", null);
    const artifact = { ...job, job: JobFileSchema.parse({ source_type: "artifact", source: { entrypoint: ["python", "x.py"] } }) };
    expect(await prepareJobSource(artifact, { logger: silentLogger })).toBe(artifact);
    const image = { ...job, job: JobFileSchema.parse({ source_type: "image", source: { image: "busybox" } }) };
    expect(await prepareJobSource(image, { logger: silentLogger })).toBe(image);
  });
});
