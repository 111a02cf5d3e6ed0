import { BlockList, isIP } from "node:net";
import type { Dispatcher } from "undici";
import { z } from "zod";
import { WandbApiError } from "./errors.js";

/*
 * Proxies for the agent's W&B traffic (GraphQL, artifact downloads, run-file uploads), chosen as W&B's client
 * chooses them: `WANDB__PROXIES` (a JSON object of scheme → proxy URL, which the SDK passes on as its
 * http_proxy/https_proxy settings), else `WANDB_HTTP_PROXY`/`WANDB_HTTPS_PROXY`, else the standard
 * `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY` with the rules of Go's ProxyFromEnvironment, which wandb-core uses.
 */

export interface ProxyChoice {
  url: string;
  /** The variable it came from, for messages. */
  source: string;
  /** From HTTP(S)_PROXY: NO_PROXY and the loopback exception apply. W&B's own settings proxy every request. */
  fromEnv: boolean;
}

export interface ProxySettings {
  /** For http:// requests. */
  http: ProxyChoice | null;
  /** For https:// requests. */
  https: ProxyChoice | null;
  /** NO_PROXY entries, lower-cased. */
  noProxy: string[];
}

const PROXIES_HINT = 'WANDB__PROXIES must be a JSON object mapping a scheme to a proxy URL, e.g. {"https": "http://proxy.internal:3128"}';

/** The proxy settings in `env`, or null when none is set. A malformed value is a config error naming the variable. */
export function proxySettingsFromEnv(env: NodeJS.ProcessEnv): ProxySettings | null {
  const mapped = parseProxiesJson(env.WANDB__PROXIES);
  const pick = (scheme: "http" | "https"): ProxyChoice | null => {
    const upper = scheme.toUpperCase();
    if (mapped?.[scheme]) return { url: proxyUrl(mapped[scheme]!, `WANDB__PROXIES.${scheme}`), source: `WANDB__PROXIES.${scheme}`, fromEnv: false };
    const setting = env[`WANDB_${upper}_PROXY`];
    if (setting) return { url: proxyUrl(setting, `WANDB_${upper}_PROXY`), source: `WANDB_${upper}_PROXY`, fromEnv: false };
    // Go reads the upper-case name first, then the lower-case one.
    const name = env[`${upper}_PROXY`] ? `${upper}_PROXY` : `${scheme}_proxy`;
    const value = env[name];
    return value ? { url: proxyUrl(value, name), source: name, fromEnv: true } : null;
  };
  const http = pick("http");
  const https = pick("https");
  if (!http && !https) return null;
  const noProxy = (env.NO_PROXY ?? env.no_proxy ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  return { http, https, noProxy };
}

function parseProxiesJson(raw: string | undefined): Record<string, string> | null {
  if (raw === undefined || raw.trim() === "") return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new WandbApiError("config", `${PROXIES_HINT}; it is not JSON`);
  }
  const ok = z.record(z.string(), z.string()).safeParse(parsed);
  if (!ok.success) throw new WandbApiError("config", `${PROXIES_HINT}; got ${JSON.stringify(parsed)}`);
  return ok.data;
}

/** A proxy URL as Go accepts it: a bare host:port means http://host:port. */
function proxyUrl(value: string, name: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new WandbApiError("config", `${name} ${JSON.stringify(value)} is not a proxy URL; use e.g. http://proxy.internal:3128`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new WandbApiError("config", `${name} ${JSON.stringify(value)}: the agent supports http:// and https:// proxies, not ${url.protocol}//`);
  }
  return url.href.replace(/\/$/, "");
}

/** The proxy a request to `target` goes through, or null for a direct connection. */
export function proxyFor(target: URL, settings: ProxySettings): ProxyChoice | null {
  const choice = target.protocol === "https:" ? settings.https : target.protocol === "http:" ? settings.http : null;
  if (!choice) return null;
  if (choice.fromEnv && !useEnvProxy(target, settings.noProxy)) return null;
  return choice;
}

/** Go's rules: never for localhost or loopback addresses; NO_PROXY names hosts, domains (and their subdomains), IPs and CIDRs, optionally with a port; `*` means none. */
function useEnvProxy(target: URL, noProxy: readonly string[]): boolean {
  const host = target.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const port = target.port || (target.protocol === "https:" ? "443" : "80");
  if (host === "localhost" || host.endsWith(".localhost")) return false;
  const family = isIP(host);
  if (family === 4 && host.startsWith("127.")) return false;
  if (family === 6 && host === "::1") return false;
  for (const raw of noProxy) {
    if (raw === "*") return false;
    const cidr = /^([0-9a-f.:]+)\/(\d+)$/i.exec(raw);
    if (cidr && family) {
      const list = new BlockList();
      const kind = isIP(cidr[1]!) === 6 ? "ipv6" : "ipv4";
      list.addSubnet(cidr[1]!, Number(cidr[2]), kind);
      if (list.check(host, family === 6 ? "ipv6" : "ipv4")) return false;
      continue;
    }
    const m = /^(.*?)(?::(\d+))?$/.exec(raw.replace(/^\[(.*)\](:\d+)?$/, "$1$2"))!;
    const entryHost = m[1]!;
    if (m[2] && m[2] !== port) continue;
    if (isIP(entryHost)) {
      if (entryHost === host) return false;
    } else if (entryHost.startsWith(".") || entryHost.startsWith("*.")) {
      if (host.endsWith(entryHost.replace(/^\*/, ""))) return false; // subdomains only
    } else if (host === entryHost || host.endsWith(`.${entryHost}`)) {
      return false;
    }
  }
  return true;
}

/**
 * A fetch dispatcher that sends each request through the proxy `proxyFor` names: http:// targets as forward
 * requests, https:// ones through a CONNECT tunnel, as Go and requests do. undici is loaded only when a proxy is
 * configured. `proxyAuthorization` (from WANDB__EXTRA_HTTP_HEADERS) goes to the proxy, as wandb-core sends it.
 */
export async function proxyDispatcher(settings: ProxySettings, proxyAuthorization?: string): Promise<Dispatcher> {
  const { Agent, Dispatcher: Base, ProxyAgent } = await import("undici");
  const direct = new Agent();
  const agents = new Map<string, Dispatcher>();
  const through = (choice: ProxyChoice): Dispatcher => {
    let agent = agents.get(choice.url);
    if (!agent) {
      agent = new ProxyAgent({ uri: choice.url, proxyTunnel: false, ...(proxyAuthorization ? { token: proxyAuthorization } : {}) });
      agents.set(choice.url, agent);
    }
    return agent;
  };
  const all = () => [direct, ...agents.values()];
  class SchemeRouter extends Base {
    override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandlers): boolean {
      const choice = proxyFor(new URL(String(opts.origin)), settings);
      return (choice ? through(choice) : direct).dispatch(opts, handler);
    }
    override async close(): Promise<void> {
      await Promise.all(all().map((d) => d.close()));
    }
    override async destroy(): Promise<void> {
      await Promise.all(all().map((d) => d.destroy()));
    }
  }
  return new SchemeRouter();
}
