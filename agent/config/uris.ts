// Classification and validation of the two URI kinds in the agent config: image destinations
// (`builder.destination`, legacy `registry.uri`) and build-context stores (`builder.build-context-store`).
// The host patterns and error texts follow the official agent (reference §1.5.1, §4.1) so users who
// script against those messages keep working. Deliberate differences, each also listed in the README:
//  * Classification is by host first, then the path is checked. A recognised cloud host with a bad
//    path is an error naming the expected format, where the official regexes sometimes fall through
//    to "anonymous" and the first push fails instead.
//  * ACR: nested repositories (`reg.azurecr.io/team/app`) are accepted. ACR supports them; the
//    official regex rejects them with a misleading "tag" error (suffix '/app').
//  * Artifact Registry: nested image names (`…/project/repo/team/app`) are accepted as GAR; the official
//    regex treats them as anonymous. Dots are allowed in image path segments.
//  * Anonymous registries: the reference must be a valid OCI repository (lowercase path components)
//    and must not carry a tag or digest; the official agent accepts anything and fails at push time.
//  * A scheme other than `https://` (e.g. `http://`) is an error: image references have no scheme.
import type { RegistryKind } from "../registries/types.js";
import { ConfigError } from "./types.js";

export type { RegistryKind };

interface RegistryUriBase {
  kind: RegistryKind;
  /** Registry host (with port if any), e.g. `123456789012.dkr.ecr.us-east-1.amazonaws.com`. */
  host: string;
  /** Path after the host: the OCI repository name used in `/v2/<repository>/manifests/<tag>`. */
  repository: string;
  /** `<host>/<repository>`: what the agent tags images with (`<repositoryUri>:<source-hash>`). */
  repositoryUri: string;
}

export interface EcrRegistryUri extends RegistryUriBase {
  kind: "ecr";
  account: string;
  region: string;
}

export interface GarRegistryUri extends RegistryUriBase {
  kind: "gar";
  project: string;
  /** Location from the host: `us-central1`, or a multi-region such as `us` for `us-docker.pkg.dev`. */
  region: string;
  /** The Artifact Registry repository (second path segment); `repository` stays the full OCI path. */
  garRepository: string;
  /** Image name after the repository; may contain `/` (nested, deliberate difference). */
  imageName: string;
}

export interface AcrRegistryUri extends RegistryUriBase {
  kind: "acr";
  registryName: string;
}

export interface AnonymousRegistryUri extends RegistryUriBase {
  kind: "anonymous";
}

export type RegistryUri = EcrRegistryUri | GarRegistryUri | AcrRegistryUri | AnonymousRegistryUri;

export type RegistryUriCheck =
  | { ok: true; registry: RegistryUri; warnings: string[] }
  | { ok: false; error: string };

export const ECR_FORMAT = "https://<account-id>.dkr.ecr.<region>.amazonaws.com/<repository>";
export const GAR_FORMAT = "https://<region>-docker.pkg.dev/<project>/<repository>/<image>";
export const ACR_FORMAT = "https://<registry-name>.azurecr.io/<repository>";

const ACR_HOST = /^(\w+)\.azurecr\.io$/i;
const ECR_HOST = /^([\w-]+)\.dkr\.ecr\.([\w-]+)\.amazonaws\.com$/i;
const GAR_HOST = /^([\w-]+)-docker\.pkg\.dev$/i;
// The documented ECR sample lacks `.dkr.` (reference helm A.7); catch that typo explicitly.
const ECR_HOST_WITHOUT_DKR = /^([\w-]+)\.ecr\.([\w-]+)\.amazonaws\.com$/i;
// OCI distribution spec path component.
const OCI_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

export function unrecognizedRegistryWarning(uri: string): string {
  return `Unable to recognize registry type in URI ${uri}. You are responsible for ensuring the agent can push images to this registry.`;
}

function tagError(suffix: string): string {
  return `Destination for built images may not include a tag, but the URI provided includes the suffix '${suffix}'. Please remove the tag: the agent tags every image it builds with its source hash.`;
}

const ACR_NO_REPO = `A repository name must be specified in the URI for an Azure Container Registry. Please provide a uri with the format '${ACR_FORMAT}'.`;
const ECR_NO_REPO = `A repository name must be specified in the URI for an Elastic Container Registry. Please provide a uri with the format '${ECR_FORMAT}'.`;
const GAR_NO_IMAGE = `An image name must be specified in the URI for a GCP Artifact Registry. Please provide a uri with the format '${GAR_FORMAT}'.`;

function fail(error: string, uri: string): RegistryUriCheck {
  return { ok: false, error: `${error} Got '${uri}'.` };
}

/** Index of the first `:` or `@` in a path: where a tag or digest starts. */
function tagStart(path: string): number {
  const m = /[:@]/.exec(path);
  return m ? m.index : -1;
}

/**
 * Classify and validate an image destination. Never throws; `ok: false` carries a message that
 * names the URI and the accepted format.
 */
export function checkRegistryUri(input: string): RegistryUriCheck {
  const uri = input.trim();
  if (uri === "") return { ok: false, error: "The registry URI is empty. Give an image repository such as registry.example.com/team/app." };
  const stripped = uri.replace(/^https:\/\//i, "");
  if (SCHEME.test(stripped)) {
    return fail(
      "Image destinations have no scheme other than an optional https:// prefix. Give the repository as <host>/<path>.",
      uri,
    );
  }
  const slash = stripped.indexOf("/");
  const host = slash === -1 ? stripped : stripped.slice(0, slash);
  const path = slash === -1 ? "" : stripped.slice(slash + 1);

  const acr = ACR_HOST.exec(host);
  if (acr) {
    if (path === "") return fail(ACR_NO_REPO, uri);
    const t = tagStart(path);
    if (t === 0) return fail(ACR_NO_REPO, uri);
    if (t > 0) return fail(tagError(path.slice(t)), uri);
    if (!path.split("/").every((s) => /^[\w.-]+$/.test(s))) return fail(ACR_NO_REPO, uri);
    return ok({ kind: "acr", host, repository: path, repositoryUri: `${host}/${path}`, registryName: acr[1]! });
  }

  const ecr = ECR_HOST.exec(host);
  if (ecr) {
    // Official: repository `[./\w-]+`, anything after it is a tag.
    const m = /^([./\w-]+)(.*)$/.exec(path);
    if (!m) return fail(ECR_NO_REPO, uri);
    if (m[2] !== "") return fail(tagError(m[2]!), uri);
    const repository = m[1]!;
    if (repository.split("/").some((s) => s === "")) {
      return fail(`The ECR repository name has an empty path segment. Please provide a uri with the format '${ECR_FORMAT}'.`, uri);
    }
    return ok({ kind: "ecr", host, repository, repositoryUri: `${host}/${repository}`, account: ecr[1]!, region: ecr[2]! });
  }

  const gar = GAR_HOST.exec(host);
  if (gar) {
    const t = tagStart(path);
    if (t >= 0) return fail(tagError(path.slice(t)), uri);
    const parts = path.split("/");
    const [project = "", repo = "", ...image] = parts;
    const formatError = `A GCP Artifact Registry URI must have the format '${GAR_FORMAT}'.`;
    if (!/^[\w-]+$/.test(project) || !/^[\w-]+$/.test(repo)) return fail(formatError, uri);
    if (image.length === 0 || (image.length === 1 && image[0] === "")) return fail(GAR_NO_IMAGE, uri);
    if (!image.every((s) => /^[\w.-]+$/.test(s))) return fail(formatError, uri);
    const imageName = image.join("/");
    return ok({
      kind: "gar",
      host,
      repository: path,
      repositoryUri: `${host}/${path}`,
      project,
      region: gar[1]!,
      garRepository: repo,
      imageName,
    });
  }

  return checkAnonymous(uri, host, path);
}

function ok(registry: RegistryUri, warnings: string[] = []): RegistryUriCheck {
  return { ok: true, registry, warnings };
}

// Docker's rule: the first component is a registry host only if it has a `.` or `:` or is localhost.
function checkAnonymous(uri: string, first: string, rest: string): RegistryUriCheck {
  const isHost = first.includes(".") || first.includes(":") || first === "localhost";
  const host = isHost ? first : "docker.io";
  let path = isHost ? rest : rest === "" ? first : `${first}/${rest}`;
  if (path === "") {
    return fail(`The destination names a registry host but no repository. Give <host>/<repository>, e.g. ${host}/team/app.`, uri);
  }
  const digest = path.indexOf("@");
  if (digest >= 0) return fail(tagError(path.slice(digest)), uri);
  const lastSlash = path.lastIndexOf("/");
  const colon = path.indexOf(":", lastSlash + 1);
  if (colon >= 0) return fail(tagError(path.slice(colon)), uri);
  const bad = path.split("/").find((c) => !OCI_COMPONENT.test(c));
  if (bad !== undefined) {
    return fail(
      `'${bad}' is not a valid image repository path component: use lowercase letters, digits and the separators '.', '_', '-' between them (e.g. registry.example.com/team/app).`,
      uri,
    );
  }
  if (!isHost && !path.includes("/")) path = `library/${path}`;
  const warnings = [unrecognizedRegistryWarning(uri)];
  const typo = ECR_HOST_WITHOUT_DKR.exec(host);
  if (typo) {
    warnings.push(
      `${uri} looks like an ECR repository without '.dkr.': ECR repository hosts have the form ${typo[1]}.dkr.ecr.${typo[2]}.amazonaws.com.`,
    );
  }
  return ok({ kind: "anonymous", host, repository: path, repositoryUri: `${host}/${path}` }, warnings);
}

/**
 * Classify a destination URI. Throws ConfigError (stage "agent") with the validation message when it
 * is invalid; `field` names the config key it came from.
 */
export function classifyRegistryUri(uri: string, field = "builder.destination"): RegistryUri {
  const r = checkRegistryUri(uri);
  if (!r.ok) throw new ConfigError(`${field}: ${r.error}`, [{ path: field, message: r.error }]);
  return r.registry;
}

// ---------------------------------------------------------------------------------------------
// Build-context stores.

interface StorageUriBase {
  kind: "s3" | "gcs" | "azure";
  uri: string;
  /** Bucket (S3, GCS) or container (Azure). */
  bucket: string;
  /** Object-name prefix without leading or trailing `/`; "" for the bucket root. */
  prefix: string;
}

export interface S3StorageUri extends StorageUriBase {
  kind: "s3";
}
export interface GcsStorageUri extends StorageUriBase {
  kind: "gcs";
}
export interface AzureStorageUri extends StorageUriBase {
  kind: "azure";
  account: string;
  container: string;
}
export type StorageUri = S3StorageUri | GcsStorageUri | AzureStorageUri;

export type StorageUriCheck = { ok: true; store: StorageUri } | { ok: false; error: string };

export const INVALID_STORE_MESSAGE =
  "Invalid build context store. Build context store must be a URI for an S3 bucket, GCS bucket, or Azure blob.";
const STORE_FORMATS =
  "Use s3://<bucket>/<prefix>, gs://<bucket>/<prefix> or https://<account>.blob.core.windows.net/<container>/<prefix>.";

// The official patterns (reference §4.1), anchored at the start as Python's re.match is.
const S3_STORE = /^s3:\/\/([^/]+)(?:\/(.*))?$/;
const GCS_STORE = /^gs:\/\/([^/]+)(?:\/(.*))?$/;
const AZURE_STORE = /^https:\/\/([^./]+)\.blob\.core\.windows\.net\/([^/]+)\/?(.*)$/;

// Stricter than the official agent (deliberate): names the cloud would refuse fail here, not at upload.
const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const GCS_BUCKET = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;
const AZURE_ACCOUNT = /^[a-z0-9]{3,24}$/;
const AZURE_CONTAINER = /^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

function cleanPrefix(p: string | undefined): string {
  return (p ?? "").replace(/^\/+|\/+$/g, "");
}

/** Classify and validate a build-context store URI. Never throws. */
export function checkStorageUri(input: string): StorageUriCheck {
  const uri = input.trim();
  const bad = (detail: string): StorageUriCheck => ({ ok: false, error: `${detail} Got '${uri}'.` });
  let m = S3_STORE.exec(uri);
  if (m) {
    const bucket = m[1]!;
    if (!S3_BUCKET.test(bucket)) {
      return bad(`'${bucket}' is not a valid S3 bucket name: 3-63 lowercase letters, digits, '.' and '-', starting and ending with a letter or digit.`);
    }
    return { ok: true, store: { kind: "s3", uri, bucket, prefix: cleanPrefix(m[2]) } };
  }
  m = GCS_STORE.exec(uri);
  if (m) {
    const bucket = m[1]!;
    if (!GCS_BUCKET.test(bucket)) {
      return bad(`'${bucket}' is not a valid GCS bucket name: lowercase letters, digits, '.', '_' and '-', starting and ending with a letter or digit.`);
    }
    return { ok: true, store: { kind: "gcs", uri, bucket, prefix: cleanPrefix(m[2]) } };
  }
  m = AZURE_STORE.exec(uri);
  if (m) {
    const account = m[1]!;
    const container = m[2]!;
    if (!AZURE_ACCOUNT.test(account)) {
      return bad(`'${account}' is not a valid Azure storage account name: 3-24 lowercase letters and digits.`);
    }
    if (!AZURE_CONTAINER.test(container)) {
      return bad(`'${container}' is not a valid Azure blob container name: 3-63 lowercase letters, digits and single '-'.`);
    }
    return { ok: true, store: { kind: "azure", uri, account, container, bucket: container, prefix: cleanPrefix(m[3]) } };
  }
  return bad(`${INVALID_STORE_MESSAGE} ${STORE_FORMATS}`);
}

/** Classify a build-context store URI; throws ConfigError naming `field` when it is invalid. */
export function classifyStorageUri(uri: string, field = "builder.build-context-store"): StorageUri {
  const r = checkStorageUri(uri);
  if (!r.ok) throw new ConfigError(`${field}: ${r.error}`, [{ path: field, message: r.error }]);
  return r.store;
}

/** Object name for `name` under a store's prefix (the agent uploads `<store>/<run_id>.tgz`). */
export function storageObjectKey(store: StorageUri, name: string): string {
  return store.prefix === "" ? name : `${store.prefix}/${name}`;
}
