import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { netrcPassword, resolveBaseUrl, resolveCredentials, settingsFileBaseUrl } from "../../../agent/backend/wandb/credentials.js";

let home: string;
beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), "creds-"));
});
afterEach(() => rm(home, { recursive: true, force: true }));

describe("W&B host and key (reference §1.3)", () => {
  it("prefers WANDB_BASE_URL, then the settings file, then api.wandb.ai", async () => {
    expect(resolveBaseUrl({ env: {}, homeDir: home })).toBe("https://api.wandb.ai");
    await mkdir(join(home, ".config", "wandb"), { recursive: true });
    await writeFile(join(home, ".config", "wandb", "settings"), "[default]\nentity = me\nbase_url = https://wandb.corp.example/\n");
    expect(resolveBaseUrl({ env: {}, homeDir: home })).toBe("https://wandb.corp.example");
    expect(resolveBaseUrl({ env: { WANDB_BASE_URL: "http://127.0.0.1:8080/" }, homeDir: home })).toBe("http://127.0.0.1:8080");
    expect(() => resolveBaseUrl({ env: { WANDB_BASE_URL: "api.wandb.ai" }, homeDir: home })).toThrow(/WANDB_BASE_URL "api.wandb.ai"/);
  });

  it("reads the settings file from WANDB_CONFIG_DIR and only its [default] section", () => {
    expect(settingsFileBaseUrl("[other]\nbase_url = https://x\n[default]\nbase_url: https://y\n")).toBe("https://y");
    expect(settingsFileBaseUrl("[other]\nbase_url = https://x\n")).toBeNull();
  });

  it("takes the key from WANDB_API_KEY, else the netrc entry of the API host", async () => {
    await writeFile(join(home, ".netrc"), "machine other.example\n  login user\n  password wrong\nmachine api.wandb.ai\n  login user\n  password from-netrc\n");
    expect(resolveCredentials({ env: {}, homeDir: home })).toEqual({ baseUrl: "https://api.wandb.ai", apiKey: "from-netrc", keySource: "netrc" });
    expect(resolveCredentials({ env: { WANDB_API_KEY: "from-env" }, homeDir: home }).apiKey).toBe("from-env");
    expect(netrcPassword("default login u password dflt", "x.example")).toBe("dflt");
  });

  it("says how to log in when there is no key", () => {
    expect(() => resolveCredentials({ env: { WANDB_BASE_URL: "https://wandb.corp.example" }, homeDir: home })).toThrow(
      /No W&B API key found for wandb.corp.example: set WANDB_API_KEY or run `wandb login`/,
    );
  });
});
