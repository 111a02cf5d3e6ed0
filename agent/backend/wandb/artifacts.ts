import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { copyFile, mkdir, readFile, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, normalize, sep } from "node:path";
import type { z } from "zod";
import { LaunchError, errorMessage } from "../../errors.js";
import type { Logger } from "../../log.js";
import { WandbApiError } from "./errors.js";
import {
  ArtifactByID,
  ArtifactMembershipByName,
  ArtifactMembershipFiles,
  FetchArtifactManifest,
  GetArtifactMembershipFileUrls,
  ManifestSchema,
  type ArtifactNode,
  type Manifest,
} from "./operations.js";
import type { WandbTransport } from "./transport.js";

/** `entity/project/collection[:alias]`, with defaults for missing parts (the SDK's ArtifactPath rules). */
export interface ArtifactPath {
  entity: string;
  project: string;
  /** Collection and alias exactly as written, e.g. `job-x:latest` or `job-x`. */
  name: string;
}

export function parseArtifactPath(path: string, defaults: { entity: string | null; project: string }): ArtifactPath {
  // The alias may itself contain slashes, so split it off first.
  const colon = path.indexOf(":");
  const collectionPath = colon >= 0 ? path.slice(0, colon) : path;
  const alias = colon >= 0 ? path.slice(colon) : "";
  const parts = collectionPath.split("/");
  if (parts.length > 3 || parts.some((p) => p === "")) {
    throw new LaunchError(`Invalid artifact path ${JSON.stringify(path)}: use entity/project/name:alias`);
  }
  const name = `${parts[parts.length - 1]}${alias}`;
  const project = parts.length >= 2 ? parts[parts.length - 2]! : defaults.project;
  const entity = parts.length === 3 ? parts[0]! : defaults.entity;
  if (!entity) throw new LaunchError(`Artifact path ${JSON.stringify(path)} names no entity and the agent has none; use entity/project/name:alias`);
  return { entity, project, name };
}

/** `wandb-artifact://_id/<id>` or `wandb-artifact://[<host>/]entity/project/name:alias`, as job files reference code. */
export function parseArtifactUri(uri: string): { id: string } | { path: string } {
  const prefix = "wandb-artifact://";
  if (!uri.startsWith(prefix)) throw new LaunchError(`Job source.artifact ${JSON.stringify(uri)} must start with ${prefix}`);
  let rest = uri.slice(prefix.length);
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\/[^/]+\/(.*)$/i.exec(rest);
  if (withScheme) rest = withScheme[1]!;
  const parts = rest.split("/");
  if (parts[0] === "_id" && parts[1]) return { id: parts[1] };
  if (parts.length < 3) throw new LaunchError(`Job source.artifact ${JSON.stringify(uri)} is not entity/project/name:alias`);
  return { path: parts.slice(0, 3).join("/") };
}

/** One artifact version as the API describes it. */
export interface ArtifactVersion {
  id: string;
  entity: string;
  project: string;
  collection: string;
  /** `vN`. */
  version: string;
  /** The SDK's `artifact.name`: collection plus the alias as requested, or `:vN` when none was. */
  name: string;
  type: string;
  state: string;
}

/** The SDK's job source string (reference §3.1): `<artifact.name>:v<artifact.version>`, i.e. `job:latest:vv3`. */
export function jobSourceString(art: Pick<ArtifactVersion, "name" | "version">): string {
  return `${art.name}:v${art.version}`;
}

/** Lowercase hex of a base64 MD5 manifest digest. */
export function digestHex(b64: string): string {
  return Buffer.from(b64, "base64").toString("hex");
}

export interface ArtifactStoreOptions {
  transport: WandbTransport;
  /** Verified files are kept here by MD5, so a job used twice downloads once. */
  cacheDir: string;
  logger: Logger;
  /** Page size of the file-URL query. */
  filesPerPage?: number;
}

/** Finds artifact versions, downloads their files and checks every byte against the manifest. */
export class ArtifactStore {
  constructor(private readonly opts: ArtifactStoreOptions) {}

  async byPath(path: ArtifactPath, expectedType: string): Promise<ArtifactVersion> {
    const data = await this.opts.transport.request(ArtifactMembershipByName, {
      entity: path.entity,
      project: path.project,
      name: path.name,
    });
    const where = `${path.entity}/${path.project}/${path.name}`;
    if (!data.project) throw new LaunchError(`Artifact ${where}: project ${JSON.stringify(path.project)} not found under entity ${JSON.stringify(path.entity)}`);
    const m = data.project.artifactCollectionMembership;
    if (!m?.artifact) throw new LaunchError(`Artifact ${where} not found; check the name and alias, and that the agent's key can read it`);
    const versionIndex = m.versionIndex ?? m.artifact.versionIndex;
    const version = `v${versionIndex ?? 0}`;
    const proj = m.artifactCollection?.project;
    const art: ArtifactVersion = {
      id: m.artifact.id,
      entity: proj?.entity.name ?? path.entity,
      project: proj?.name ?? path.project,
      collection: m.artifactCollection?.name ?? path.name.split(":")[0]!,
      version,
      name: path.name.includes(":") ? path.name : `${path.name}:${version}`,
      type: m.artifact.artifactType.name,
      state: m.artifact.state,
    };
    checkType(art, expectedType, where);
    return art;
  }

  async byId(id: string, expectedType: string): Promise<ArtifactVersion | null> {
    const data = await this.opts.transport.request(ArtifactByID, { id });
    if (!data.artifact) return null;
    const art = fromNode(data.artifact);
    checkType(art, expectedType, `${art.entity}/${art.project}/${art.name}`);
    return art;
  }

  /**
   * Download every file of `art` into `destDir`, verified; returns the manifest's paths. As the SDK does, file URLs
   * are fetched a page at a time and each page's files downloaded before the next page is asked for, so a signed
   * URL is used soon after it is issued; one that has expired anyway is refreshed (see #fetchFile).
   */
  async download(art: ArtifactVersion, destDir: string): Promise<string[]> {
    const label = `${art.entity}/${art.project}/${art.name}`;
    const manifest = await this.#manifest(art, label);
    const paths = Object.keys(manifest.contents);
    // Every entry is checked before any byte is fetched: a job that cannot be laid out fully is not started.
    for (const path of paths) {
      safeJoin(destDir, path, label);
      const ref = manifest.contents[path]!.ref;
      if (ref) throw new LaunchError(`Artifact ${label} file ${path} is a reference to ${ref}; the agent only downloads files stored in W&B`);
    }
    const left = new Set(paths);
    const place = async (path: string, url: string | undefined) => {
      const cached = await this.#cached(art, manifest, path, url, label);
      const dest = safeJoin(destDir, path, label);
      await mkdir(dirname(dest), { recursive: true });
      // A copy (reflinked where the filesystem can): runs may change their files, the cache must not.
      await copyFile(cached, dest, constants.COPYFILE_FICLONE);
    };
    for await (const page of this.#fileUrlPages(art, label)) {
      for (const [name, url] of page) if (left.delete(name)) await place(name, url);
    }
    // Files the listing left out have no direct URL: W&B's own file handler serves them (#fetchFile).
    for (const path of left) await place(path, undefined);
    return paths;
  }

  async #manifest(art: ArtifactVersion, label: string): Promise<Manifest> {
    const data = await this.opts.transport.request(FetchArtifactManifest, { id: art.id });
    const url = data.artifact?.currentManifest?.file.directUrl;
    if (!url) throw new LaunchError(`Artifact ${label} has no manifest; it may still be uploading or was deleted`);
    const tmp = await this.#tempPath();
    try {
      await this.opts.transport.download(url, tmp, `manifest of ${label}`);
      let raw: unknown;
      try {
        raw = JSON.parse(await readFile(tmp, "utf8"));
      } catch {
        throw new LaunchError(`Artifact ${label}: manifest is not JSON`);
      }
      const parsed = ManifestSchema.safeParse(raw);
      if (!parsed.success) throw new LaunchError(`Artifact ${label}: manifest is not a v1 artifact manifest (${parsed.error.issues[0]?.message})`);
      return parsed.data;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async *#fileUrlPages(art: ArtifactVersion, label: string): AsyncGenerator<Map<string, string>> {
    let cursor: string | null = null;
    for (;;) {
      const data: z.infer<typeof GetArtifactMembershipFileUrls.data> = await this.opts.transport.request(GetArtifactMembershipFileUrls, {
        entity: art.entity,
        project: art.project,
        collection: art.collection,
        alias: art.version,
        cursor,
        perPage: this.opts.filesPerPage ?? 1000,
      });
      const files = data.project?.artifactCollection?.artifactMembership?.files;
      if (!files) throw new LaunchError(`Unable to fetch files for artifact ${label}`);
      const urls = new Map<string, string>();
      for (const edge of files.edges) if (edge.node) urls.set(edge.node.name, edge.node.directUrl);
      yield urls;
      if (!files.pageInfo.hasNextPage || !files.pageInfo.endCursor) return;
      cursor = files.pageInfo.endCursor;
    }
  }

  /** The verified cache file for `path`'s digest, downloading it when absent. */
  async #cached(art: ArtifactVersion, manifest: Manifest, path: string, url: string | undefined, label: string): Promise<string> {
    const digest = manifest.contents[path]!.digest;
    const hex = digestHex(digest);
    if (hex.length !== 32) throw new LaunchError(`Artifact ${label} file ${path}: manifest digest ${JSON.stringify(digest)} is not a base64 MD5`);
    const target = join(this.opts.cacheDir, "obj", "md5", hex.slice(0, 2), hex.slice(2));
    if (await exists(target)) return target;
    const tmp = await this.#tempPath();
    try {
      const got = await this.#fetchFile(art, manifest, path, url, tmp, label);
      if (got.md5 !== digest) {
        throw new LaunchError(
          `Artifact ${label} file ${path} does not match its manifest digest (expected md5 ${digest}, got ${got.md5}); ` +
            `nothing from this job was run. Re-log the artifact or check for a proxy altering downloads.`,
        );
      }
      await mkdir(dirname(target), { recursive: true });
      await rename(tmp, target);
      this.opts.logger.debug({ artifact: label, file: path, bytes: got.size }, "downloaded artifact file");
      return target;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /**
   * A file's bytes from the first source that serves them: the listed signed URL; a freshly issued one when
   * storage refused it (signed URLs expire: S3 and Azure answer 403, GCS 400), as the SDK refreshes them; then
   * W&B's own file handler with the key, which redirects to storage (the SDK's fallback when a direct URL is
   * missing or fails).
   */
  async #fetchFile(art: ArtifactVersion, manifest: Manifest, path: string, url: string | undefined, tmp: string, label: string) {
    const what = `${label} file ${path}`;
    const sources: [string, () => Promise<string | null>][] = [
      ["listed URL", async () => url ?? null],
      ["refreshed URL", async () => (url ? this.#freshUrl(art, path) : null)],
      ["W&B file handler", async () => this.#handlerUrl(art, manifest, path)],
    ];
    let refused: unknown = null;
    for (const [source, next] of sources) {
      const u = await next();
      if (!u) continue;
      try {
        return await this.opts.transport.download(u, tmp, what);
      } catch (err) {
        if (!isRefusedUrl(err)) throw err;
        refused = err;
        this.opts.logger.info({ artifact: label, file: path, source, err: errorMessage(err) }, "download URL refused (expired?); trying the next source");
      }
    }
    throw new LaunchError(
      `Artifact ${label} file ${path} could not be downloaded: ${errorMessage(refused)} (tried the listed URL, a refreshed URL and W&B's file handler); ` +
        `check that the agent's key can read the artifact and that its storage is reachable`,
    );
  }

  /** A newly signed URL for one file (the SDK's ArtifactMembershipFiles query with its name). */
  async #freshUrl(art: ArtifactVersion, path: string): Promise<string | null> {
    const data = await this.opts.transport.request(ArtifactMembershipFiles, {
      entity: art.entity,
      project: art.project,
      collection: art.collection,
      alias: art.version,
      fileNames: [path],
      perPage: 1,
    });
    const edges = data.project?.artifactCollection?.artifactMembership?.files.edges ?? [];
    return edges.find((e) => e.node?.name === path)?.node?.directUrl ?? null;
  }

  /** W&B's download handler URL for a file, by the manifest's storage layout (the SDK's `_file_url`). */
  #handlerUrl(art: ArtifactVersion, manifest: Manifest, path: string): string {
    const entry = manifest.contents[path]!;
    const base = this.opts.transport.baseUrl;
    const hex = digestHex(entry.digest);
    const config = manifest.storagePolicyConfig;
    if (config?.storageLayout !== "V2") return `${base}/artifacts/${encodeURIComponent(art.entity)}/${hex}`;
    const parts = [config.storageRegion || "default", art.entity, art.project, art.collection, entry.birthArtifactID ?? "", hex, basename(path)];
    return `${base}/artifactsV2/${parts.map(encodeURIComponent).join("/")}`;
  }

  async #tempPath(): Promise<string> {
    const dir = join(this.opts.cacheDir, "tmp");
    await mkdir(dir, { recursive: true });
    return join(dir, randomBytes(8).toString("hex"));
  }
}

/** Storage refused the URL itself (expired or bad signature, gone): another URL for the same file may work. */
function isRefusedUrl(err: unknown): boolean {
  return err instanceof WandbApiError && err.status !== undefined && [400, 403, 404, 410].includes(err.status);
}

function fromNode(node: ArtifactNode): ArtifactVersion {
  const version = `v${node.versionIndex ?? 0}`;
  const project = node.artifactSequence.project;
  return {
    id: node.id,
    entity: project?.entity.name ?? "",
    project: project?.name ?? "",
    collection: node.artifactSequence.name,
    version,
    name: `${node.artifactSequence.name}:${version}`,
    type: node.artifactType.name,
    state: node.state,
  };
}

function checkType(art: ArtifactVersion, expected: string, where: string): void {
  if (art.type !== expected) {
    throw new LaunchError(`Artifact ${where} is of type ${JSON.stringify(art.type)}, expected ${JSON.stringify(expected)}`);
  }
}

/** `root/rel`, refusing manifest paths that would escape `root`. */
function safeJoin(root: string, rel: string, label: string): string {
  const norm = normalize(rel);
  if (isAbsolute(rel) || norm === ".." || norm.startsWith(`..${sep}`)) {
    throw new LaunchError(`Artifact ${label} lists a file outside its root (${JSON.stringify(rel)}); refusing to download it`);
  }
  return join(root, norm);
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
