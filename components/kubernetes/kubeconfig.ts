// Kubeconfigs for the Kubernetes provider, built from the cluster a stack looked up, so the agent lands on the
// cluster whose identity the stack trusts rather than on whatever the deployer's current context points at.
// Pure: no lookups, no secrets. EKS and GKE use the clouds' exec credential plugins (short-lived tokens minted
// from the deployer's own cloud login at every `pulumi up`); AKS hands out a ready kubeconfig instead.

/** The `client.authentication.k8s.io` exec plugin stanza of a kubeconfig user. */
export interface ExecConfig {
  apiVersion: "client.authentication.k8s.io/v1beta1";
  command: string;
  args: string[];
  env?: Array<{ name: string; value: string }>;
  installHint?: string;
  provideClusterInfo?: boolean;
  interactiveMode: "Never" | "IfAvailable" | "Always";
}

/** A one-cluster kubeconfig (`kubectl config view` format, v1). */
export interface Kubeconfig {
  apiVersion: "v1";
  kind: "Config";
  clusters: Array<{ name: string; cluster: { server: string; "certificate-authority-data": string } }>;
  contexts: Array<{ name: string; context: { cluster: string; user: string } }>;
  "current-context": string;
  users: Array<{ name: string; user: { exec: ExecConfig } }>;
  preferences: Record<string, never>;
}

function kubeconfig(name: string, server: string, caData: string, exec: ExecConfig): Kubeconfig {
  if (!server) throw new Error(`cluster ${name} has no API endpoint yet: is it still being created?`);
  if (!caData) throw new Error(`cluster ${name} reported no certificate authority`);
  return {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name, cluster: { server, "certificate-authority-data": caData } }],
    contexts: [{ name, context: { cluster: name, user: name } }],
    "current-context": name,
    users: [{ name, user: { exec } }],
    preferences: {},
  };
}

export interface EksClusterInfo {
  name: string;
  /** `https://<id>.<region>.eks.amazonaws.com` */
  endpoint: string;
  /** Base64 PEM, as `describe-cluster` returns it. */
  certificateAuthorityData: string;
  region: string;
  /** The AWS CLI profile the deployer uses (`aws:profile`), if any. */
  profile?: string;
}

/** EKS: tokens from `aws eks get-token`, the same call `aws eks update-kubeconfig` writes. */
export function eksKubeconfig(c: EksClusterInfo): Kubeconfig {
  return kubeconfig(c.name, c.endpoint, c.certificateAuthorityData, {
    apiVersion: "client.authentication.k8s.io/v1beta1",
    command: "aws",
    args: ["eks", "get-token", "--cluster-name", c.name, "--region", c.region, "--output", "json"],
    ...(c.profile ? { env: [{ name: "AWS_PROFILE", value: c.profile }] } : {}),
    installHint: "Install the AWS CLI v2 (https://docs.aws.amazon.com/cli/) and sign in; the stack gets EKS tokens with `aws eks get-token`.",
    interactiveMode: "Never",
  });
}

export interface GkeClusterInfo {
  name: string;
  /** The endpoint IP or host, without scheme, as the GKE API returns it. */
  endpoint: string;
  /** Base64 PEM (`masterAuth.clusterCaCertificate`). */
  clusterCaCertificate: string;
  project: string;
  location: string;
}

/** GKE: tokens from `gke-gcloud-auth-plugin`, the plugin `gcloud container clusters get-credentials` configures. */
export function gkeKubeconfig(c: GkeClusterInfo): Kubeconfig {
  const server = c.endpoint === "" ? "" : c.endpoint.startsWith("https://") ? c.endpoint : `https://${c.endpoint}`;
  return kubeconfig(`gke_${c.project}_${c.location}_${c.name}`, server, c.clusterCaCertificate, {
    apiVersion: "client.authentication.k8s.io/v1beta1",
    command: "gke-gcloud-auth-plugin",
    args: [],
    installHint: "Install gke-gcloud-auth-plugin (gcloud components install gke-gcloud-auth-plugin) and run `gcloud auth login`.",
    provideClusterInfo: true,
    interactiveMode: "Never",
  });
}

/** AKS: the kubeconfig `listClusterUserCredentials`/`listClusterAdminCredentials` return, base64-encoded. */
export function aksKubeconfig(cluster: string, kubeconfigs: ReadonlyArray<{ name: string; value: string }> | undefined): string {
  const first = kubeconfigs?.[0]?.value;
  if (!first) throw new Error(`AKS cluster ${cluster} returned no kubeconfig: check that you may list its credentials (az aks get-credentials -n ${cluster})`);
  return Buffer.from(first, "base64").toString("utf8");
}
