import { describe, expect, it } from "vitest";
import { proxyFor, proxySettingsFromEnv, type ProxySettings } from "../../../agent/backend/wandb/proxy.js";

describe("proxySettingsFromEnv: W&B's order of proxy settings", () => {
  it("nothing set: no proxy", () => {
    expect(proxySettingsFromEnv({})).toBeNull();
    expect(proxySettingsFromEnv({ WANDB__PROXIES: "" })).toBeNull();
  });

  it("WANDB__PROXIES maps scheme to proxy and wins over WANDB_HTTPS_PROXY and HTTPS_PROXY", () => {
    const s = proxySettingsFromEnv({
      WANDB__PROXIES: JSON.stringify({ https: "http://corp:3128", ftp: "ignored" }),
      WANDB_HTTPS_PROXY: "http://other:1",
      HTTPS_PROXY: "http://env:2",
      HTTP_PROXY: "http://env-http:3",
    })!;
    expect(s.https).toEqual({ url: "http://corp:3128", source: "WANDB__PROXIES.https", fromEnv: false });
    // Only the https entry was given: http falls through to the next source.
    expect(s.http).toEqual({ url: "http://env-http:3", source: "HTTP_PROXY", fromEnv: true });
  });

  it("WANDB_HTTP(S)_PROXY, then HTTP(S)_PROXY (upper case first), with NO_PROXY", () => {
    expect(proxySettingsFromEnv({ WANDB_HTTP_PROXY: "http://w:1" })!.http).toEqual({ url: "http://w:1", source: "WANDB_HTTP_PROXY", fromEnv: false });
    const s = proxySettingsFromEnv({ https_proxy: "proxy.lan:8080", HTTPS_PROXY: "", no_proxy: " .corp, 10.0.0.0/8 " })!;
    expect(s.https).toEqual({ url: "http://proxy.lan:8080", source: "https_proxy", fromEnv: true }); // a bare host:port is http://
    expect(s.http).toBeNull(); // as in Go, HTTPS_PROXY is only for https requests
    expect(s.noProxy).toEqual([".corp", "10.0.0.0/8"]);
  });

  it("malformed settings are config errors naming the variable and the fix", () => {
    expect(() => proxySettingsFromEnv({ WANDB__PROXIES: "http://proxy:3128" })).toThrow(/WANDB__PROXIES must be a JSON object mapping a scheme to a proxy URL, e\.g\. \{"https": .*not JSON/);
    expect(() => proxySettingsFromEnv({ WANDB__PROXIES: '{"https": 3128}' })).toThrow(/WANDB__PROXIES must be a JSON object.*got \{"https":3128\}/);
    expect(() => proxySettingsFromEnv({ WANDB__PROXIES: '{"https": "socks5://p:1080"}' })).toThrow(/WANDB__PROXIES\.https "socks5:\/\/p:1080": the agent supports http:\/\/ and https:\/\/ proxies/);
    expect(() => proxySettingsFromEnv({ HTTPS_PROXY: "http://[bad" })).toThrow(/HTTPS_PROXY "http:\/\/\[bad" is not a proxy URL/);
  });
});

describe("proxyFor: which requests go through the proxy", () => {
  const env = (noProxy: string[]): ProxySettings => ({
    http: { url: "http://p:1", source: "HTTP_PROXY", fromEnv: true },
    https: { url: "http://p:2", source: "HTTPS_PROXY", fromEnv: true },
    noProxy,
  });
  const via = (url: string, s: ProxySettings) => proxyFor(new URL(url), s)?.url ?? null;

  it("by scheme", () => {
    expect(via("https://api.wandb.ai/graphql", env([]))).toBe("http://p:2");
    expect(via("http://wandb.corp/graphql", env([]))).toBe("http://p:1");
  });

  it("environment proxies skip loopback, as Go's ProxyFromEnvironment does", () => {
    for (const u of ["http://localhost:8080/", "http://127.0.0.1/", "http://127.1.2.3/", "http://[::1]:80/", "http://x.localhost/"]) expect(via(u, env([]))).toBeNull();
  });

  it("NO_PROXY: hosts, domains with their subdomains, leading-dot subdomains only, IPs, CIDRs, ports and *", () => {
    expect(via("https://wandb.corp/", env(["wandb.corp"]))).toBeNull();
    expect(via("https://api.wandb.corp/", env(["wandb.corp"]))).toBeNull();
    expect(via("https://notwandb.corp/", env(["wandb.corp"]))).toBe("http://p:2");
    expect(via("https://wandb.corp/", env([".wandb.corp"]))).toBe("http://p:2");
    expect(via("https://a.wandb.corp/", env([".wandb.corp"]))).toBeNull();
    expect(via("https://a.wandb.corp/", env(["*.wandb.corp"]))).toBeNull();
    expect(via("http://10.1.2.3/", env(["10.0.0.0/8"]))).toBeNull();
    expect(via("http://11.1.2.3/", env(["10.0.0.0/8"]))).toBe("http://p:1");
    expect(via("http://10.1.2.3/", env(["10.1.2.3"]))).toBeNull();
    expect(via("https://wandb.corp/", env(["wandb.corp:443"]))).toBeNull();
    expect(via("https://wandb.corp:8443/", env(["wandb.corp:443"]))).toBe("http://p:2");
    expect(via("https://anything/", env(["*"]))).toBeNull();
  });

  it("W&B's own proxy settings apply to every request, loopback and NO_PROXY hosts included (wandb-core's ProxyFn)", () => {
    const s: ProxySettings = { http: { url: "http://p:9", source: "WANDB__PROXIES.http", fromEnv: false }, https: null, noProxy: ["*"] };
    expect(via("http://127.0.0.1:9000/graphql", s)).toBe("http://p:9");
    expect(via("https://api.wandb.ai/", s)).toBeNull();
  });
});
