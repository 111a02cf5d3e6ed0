import { describe, expect, it } from "vitest";
import {
  checkRegistryUri,
  checkStorageUri,
  classifyRegistryUri,
  classifyStorageUri,
  ConfigError,
  storageObjectKey,
  unrecognizedRegistryWarning,
} from "../../../agent/config/index.js";

function error(uri: string): string {
  const r = checkRegistryUri(uri);
  if (r.ok) throw new Error(`expected ${uri} to be rejected, got ${JSON.stringify(r.registry)}`);
  return r.error;
}

describe("registry URIs: ECR", () => {
  it("parses account, region and a nested repository, with or without https://", () => {
    for (const uri of [
      "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app.images",
      "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app.images",
    ]) {
      expect(classifyRegistryUri(uri)).toEqual({
        kind: "ecr",
        host: "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        repository: "team/app.images",
        repositoryUri: "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app.images",
        account: "123456789012",
        region: "us-east-1",
      });
    }
    expect(checkRegistryUri("123456789012.dkr.ecr.us-east-1.amazonaws.com/app")).toMatchObject({ ok: true, warnings: [] });
  });

  it("rejects a tag with the official message naming the suffix", () => {
    const msg = error("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest");
    expect(msg).toMatch(/^Destination for built images may not include a tag, but the URI provided includes the suffix ':latest'\./);
    expect(msg).toContain("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest");
  });

  it("requires a repository and names the ECR format", () => {
    for (const uri of ["123456789012.dkr.ecr.us-east-1.amazonaws.com", "123456789012.dkr.ecr.us-east-1.amazonaws.com/"]) {
      expect(error(uri)).toContain(
        "A repository name must be specified in the URI for an Elastic Container Registry. Please provide a uri with the format 'https://<account-id>.dkr.ecr.<region>.amazonaws.com/<repository>'.",
      );
    }
  });

  it("treats the docs' host without .dkr. as anonymous, with the official warning and a hint", () => {
    const r = checkRegistryUri("123456789012.ecr.us-east-1.amazonaws.com/app");
    expect(r.ok && r.registry.kind).toBe("anonymous");
    expect(r.ok && r.warnings).toEqual([
      unrecognizedRegistryWarning("123456789012.ecr.us-east-1.amazonaws.com/app"),
      expect.stringContaining("123456789012.dkr.ecr.us-east-1.amazonaws.com"),
    ]);
  });
});

describe("registry URIs: Artifact Registry", () => {
  it("parses a regional host", () => {
    expect(classifyRegistryUri("https://us-central1-docker.pkg.dev/my-proj/launch/train")).toEqual({
      kind: "gar",
      host: "us-central1-docker.pkg.dev",
      repository: "my-proj/launch/train",
      repositoryUri: "us-central1-docker.pkg.dev/my-proj/launch/train",
      project: "my-proj",
      region: "us-central1",
      garRepository: "launch",
      imageName: "train",
    });
  });

  it("parses multi-region hosts (us-docker.pkg.dev → region us), case-insensitively", () => {
    expect(classifyRegistryUri("us-docker.pkg.dev/p/r/i")).toMatchObject({ kind: "gar", region: "us", project: "p", imageName: "i" });
    expect(classifyRegistryUri("EUROPE-docker.PKG.dev/p/r/i")).toMatchObject({ kind: "gar", region: "EUROPE" });
  });

  // Deliberate difference: the official regex sends nested image paths to "anonymous".
  it("accepts nested image names as GAR", () => {
    expect(classifyRegistryUri("europe-docker.pkg.dev/p/r/team/app")).toMatchObject({
      kind: "gar",
      garRepository: "r",
      imageName: "team/app",
      repository: "p/r/team/app",
    });
  });

  it("requires an image name with the official message", () => {
    for (const uri of ["us-docker.pkg.dev/p/r", "us-docker.pkg.dev/p/r/"]) {
      expect(error(uri)).toMatch(
        /^An image name must be specified in the URI for a GCP Artifact Registry\. Please provide a uri with the format 'https:\/\/<region>-docker\.pkg\.dev\/<project>\/<repository>\/<image>'\./,
      );
    }
  });

  it("rejects tags and paths without a repository", () => {
    expect(error("us-docker.pkg.dev/p/r/i:v1")).toContain("suffix ':v1'");
    expect(error("us-docker.pkg.dev/p")).toContain("must have the format");
    expect(error("us-docker.pkg.dev")).toContain("must have the format");
  });
});

describe("registry URIs: ACR", () => {
  it("parses with and without https://", () => {
    const expected = {
      kind: "acr",
      host: "myreg.azurecr.io",
      repository: "launch-images",
      repositoryUri: "myreg.azurecr.io/launch-images",
      registryName: "myreg",
    };
    expect(classifyRegistryUri("https://myreg.azurecr.io/launch-images")).toEqual(expected);
    expect(classifyRegistryUri("myreg.azurecr.io/launch-images")).toEqual(expected);
  });

  // Deliberate difference: the official agent rejects this with a tag error (suffix '/sub').
  it("accepts nested repositories", () => {
    expect(classifyRegistryUri("myreg.azurecr.io/team/app")).toMatchObject({ kind: "acr", repository: "team/app" });
  });

  it("requires a repository and rejects tags", () => {
    for (const uri of ["https://myreg.azurecr.io", "myreg.azurecr.io/"]) {
      expect(error(uri)).toContain("A repository name must be specified in the URI for an Azure Container Registry.");
    }
    expect(error("myreg.azurecr.io/app:stable")).toContain("suffix ':stable'");
  });
});

describe("registry URIs: anything else", () => {
  it("is anonymous with the official warning", () => {
    const r = checkRegistryUri("localhost:5000/team/app");
    expect(r).toEqual({
      ok: true,
      registry: { kind: "anonymous", host: "localhost:5000", repository: "team/app", repositoryUri: "localhost:5000/team/app" },
      warnings: [
        "Unable to recognize registry type in URI localhost:5000/team/app. You are responsible for ensuring the agent can push images to this registry.",
      ],
    });
  });

  it("resolves Docker Hub names like docker does", () => {
    expect(classifyRegistryUri("ubuntu")).toMatchObject({ host: "docker.io", repository: "library/ubuntu" });
    expect(classifyRegistryUri("myuser/app")).toMatchObject({ host: "docker.io", repository: "myuser/app" });
  });

  it("rejects tags, digests, schemes, uppercase and a bare host", () => {
    expect(error("registry.example.com/app:1.0")).toContain("suffix ':1.0'");
    expect(error("registry.example.com/app@sha256:abcd")).toContain("suffix '@sha256:abcd'");
    expect(error("http://registry.example.com/app")).toContain("no scheme other than an optional https://");
    expect(error("registry.example.com/Team/App")).toContain("'Team' is not a valid image repository path component");
    expect(error("registry.example.com")).toContain("no repository");
    expect(error("  ")).toContain("empty");
  });

  it("classifyRegistryUri throws a ConfigError naming the field", () => {
    let caught: unknown;
    try {
      classifyRegistryUri("myreg.azurecr.io", "registry.uri");
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).issues).toEqual([{ path: "registry.uri", message: expect.stringContaining("Azure Container Registry") }]);
    expect((caught as ConfigError).stage).toBe("agent");
  });
});

describe("build-context store URIs", () => {
  it("classifies S3, GCS and Azure Blob with bucket and prefix", () => {
    expect(classifyStorageUri("s3://launch-ctx")).toEqual({ kind: "s3", uri: "s3://launch-ctx", bucket: "launch-ctx", prefix: "" });
    expect(classifyStorageUri("s3://launch-ctx/a/b/")).toMatchObject({ bucket: "launch-ctx", prefix: "a/b" });
    expect(classifyStorageUri("gs://my_bucket.example/ctx")).toMatchObject({ kind: "gcs", bucket: "my_bucket.example", prefix: "ctx" });
    expect(classifyStorageUri("https://acct01.blob.core.windows.net/contexts/builds/x")).toEqual({
      kind: "azure",
      uri: "https://acct01.blob.core.windows.net/contexts/builds/x",
      account: "acct01",
      container: "contexts",
      bucket: "contexts",
      prefix: "builds/x",
    });
    expect(classifyStorageUri("https://acct01.blob.core.windows.net/contexts")).toMatchObject({ prefix: "" });
  });

  it("rejects anything else with the official message", () => {
    for (const uri of ["file:///tmp/x", "s3:/bucket", "https://acct.dfs.core.windows.net/c", "http://acct.blob.core.windows.net/c", "gs://", "bucket"]) {
      const r = checkStorageUri(uri);
      expect(r.ok, uri).toBe(false);
      expect(!r.ok && r.error).toContain(
        "Invalid build context store. Build context store must be a URI for an S3 bucket, GCS bucket, or Azure blob.",
      );
    }
  });

  it("rejects bucket, account and container names the clouds refuse", () => {
    const err = (u: string) => {
      const r = checkStorageUri(u);
      return r.ok ? "" : r.error;
    };
    expect(err("s3://My_Bucket")).toContain("not a valid S3 bucket name");
    expect(err("s3://ab")).toContain("not a valid S3 bucket name");
    expect(err("gs://UPPER")).toContain("not a valid GCS bucket name");
    expect(err("https://Acct.blob.core.windows.net/c1x")).toContain("storage account name");
    expect(err("https://acct.blob.core.windows.net/bad--name")).toContain("container name");
  });

  it("classifyStorageUri throws a ConfigError; storageObjectKey joins under the prefix", () => {
    expect(() => classifyStorageUri("ftp://x")).toThrow(ConfigError);
    expect(storageObjectKey(classifyStorageUri("s3://launch-ctx/builds/"), "run1.tgz")).toBe("builds/run1.tgz");
    expect(storageObjectKey(classifyStorageUri("gs://launch-ctx"), "run1.tgz")).toBe("run1.tgz");
  });
});
