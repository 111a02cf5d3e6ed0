import { execFile, spawn } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

/**
 * Real git smart HTTP over TLS on 127.0.0.1: `git http-backend` (git's own server side) behind a
 * Node https server with a throwaway self-signed certificate. HTTPS because the agent refuses
 * http:// and git:// remotes, as the official agent does. Clients trust the certificate through
 * GIT_SSL_CAINFO (see `gitEnv`).
 */
const run = promisify(execFile);

export interface GitServer {
  /** Directory holding bare repositories served as https://127.0.0.1:<port>/<name>. */
  root: string;
  url(name: string): string;
  /** Environment for git clients that must trust the server. */
  env: NodeJS.ProcessEnv;
  close(): Promise<void>;
}

export async function git(args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const { stdout } = await run("git", args, {
    cwd,
    env: { ...env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.com", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.com" },
  });
  return stdout.trim();
}

export async function startGitServer(): Promise<GitServer> {
  const root = await mkdtemp(join(tmpdir(), "git-server-"));
  const certDir = await mkdtemp(join(tmpdir(), "git-tls-"));
  const key = join(certDir, "key.pem");
  const cert = join(certDir, "cert.pem");
  await run("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert,
  ]);
  const server: Server = createServer({ key: await readFile(key), cert: await readFile(cert) }, (req, res) => {
    const url = new URL(req.url ?? "/", "https://127.0.0.1");
    const cgi = spawn("git", ["http-backend"], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: "1",
        REQUEST_METHOD: req.method ?? "GET",
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers["content-type"] ?? "",
        REMOTE_ADDR: "127.0.0.1",
        ...(req.headers["content-encoding"] ? { HTTP_CONTENT_ENCODING: String(req.headers["content-encoding"]) } : {}),
        ...(req.headers["git-protocol"] ? { GIT_PROTOCOL: String(req.headers["git-protocol"]) } : {}),
      },
      stdio: ["pipe", "pipe", "ignore"],
    });
    req.pipe(cgi.stdin);
    // CGI output: headers, a blank line, then the body, streamed through.
    let head = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout.on("data", (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end === -1) return;
      headersDone = true;
      let status = 200;
      for (const line of head.subarray(0, end).toString("latin1").split("\r\n")) {
        const colon = line.indexOf(":");
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === "status") status = Number(value.split(" ")[0]);
        else res.setHeader(name, value);
      }
      res.writeHead(status);
      res.write(head.subarray(end + 4));
    });
    cgi.stdout.on("end", () => res.end());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    root,
    url: (name) => `https://127.0.0.1:${port}/${name}`,
    env: { ...process.env, GIT_SSL_CAINFO: cert },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** Create a bare repository `<name>.git` in the server root from a work tree with the given commits; returns the commit ids. */
export async function publishRepo(server: GitServer, name: string, commits: Array<Record<string, string>>, setup?: (work: string) => Promise<void>): Promise<string[]> {
  const work = await mkdtemp(join(tmpdir(), `git-work-${name}-`));
  await git(["init", "-q", "-b", "main"], work);
  const ids: string[] = [];
  const { writeFile, mkdir } = await import("node:fs/promises");
  const { dirname } = await import("node:path");
  for (const files of commits) {
    for (const [path, content] of Object.entries(files)) {
      await mkdir(dirname(join(work, path)), { recursive: true });
      await writeFile(join(work, path), content);
    }
    if (setup && ids.length === 0) await setup(work);
    await git(["add", "-A"], work);
    await git(["commit", "-q", "-m", `commit ${ids.length + 1}`], work);
    ids.push(await git(["rev-parse", "HEAD"], work));
  }
  await git(["clone", "-q", "--bare", work, join(server.root, `${name}.git`)], tmpdir());
  return ids;
}
