import { beforeAll, describe, expect, it } from "vitest";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, MockRecorder, promiseOf, settle } from "./mocks.js";

let mocks: MockRecorder;
beforeAll(async () => {
  mocks = await installMocks({ config: { "wandb-launch:cloud": "aws" }, secretKeys: ["wandb-launch:apiKey"] });
});

describe("Pulumi mocks", () => {
  it("returns provider-computed state and records inputs with secrets unwrapped", async () => {
    const aws = await import("@pulumi/aws");
    const k8s = await import("@pulumi/kubernetes");
    const repo = new aws.ecr.Repository("r", { name: "agent" });
    const secret = new k8s.core.v1.Secret("s", { metadata: { namespace: "wandb" }, stringData: { password: pulumi.secret("k") } });
    expect(await promiseOf(repo.repositoryUrl)).toBe("123456789012.dkr.ecr.us-west-2.amazonaws.com/agent");
    expect(await promiseOf(repo.arn)).toBe("arn:aws:ecr:us-west-2:123456789012:repository/agent");
    expect(await promiseOf(secret.id)).toMatch(/^wandb\/s-[0-9a-f]{7}$/);
    await settle();
    const rec = mocks.one("kubernetes:core/v1:Secret");
    expect(rec.inputs.stringData).toEqual({ password: "k" });
    expect(rec.secretPaths.some((p) => p.startsWith("stringData"))).toBe(true);
  });

  it("answers known invokes and rejects unknown ones", async () => {
    const aws = await import("@pulumi/aws");
    const id = await aws.getCallerIdentity();
    expect(id.accountId).toBe("123456789012");
    await expect(aws.getAvailabilityZones()).rejects.toThrow(/no stub for invoke "aws:index\/getAvailabilityZones/);
  });
});
