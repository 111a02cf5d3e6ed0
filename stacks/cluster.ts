// The cluster a stack deploys to, looked up once per cloud: the OIDC issuer the cloud identity trusts, the
// Kubernetes provider built from that same cluster (so the agent cannot land elsewhere), and the identity its
// nodes pull images with. With `kubernetes:kubeconfig` or `kubernetes:context` set, the default provider is used.
import * as aws from "@pulumi/aws";
import * as azure from "@pulumi/azure-native";
import * as gcp from "@pulumi/gcp";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { nodeServiceAccounts } from "../components/gcp/policy.js";
import { aksKubeconfig, eksKubeconfig, gkeKubeconfig } from "../components/kubernetes/kubeconfig.js";
import { type AwsStackConfig, type AzureStackConfig, type GcpStackConfig, NAMESPACE } from "./config.js";

export interface ClusterAccess {
  /** The provider for every Kubernetes object; undefined: Pulumi's default provider. */
  provider?: k8s.Provider;
}

const providerFrom = (name: string, kubeconfig: pulumi.Input<string>): k8s.Provider =>
  // Everything this stack creates in Kubernetes goes through this provider; nothing is created in the
  // deployer's current context by accident.
  new k8s.Provider(`${name}-cluster`, { kubeconfig });

export interface EksAccess extends ClusterAccess {
  oidcIssuerUrl: pulumi.Input<string>;
}

export function eksCluster(name: string, cfg: AwsStackConfig & { explicitKubeTarget: boolean }): EksAccess {
  if (cfg.eksClusterName === undefined) return { oidcIssuerUrl: cfg.oidcIssuerUrl! };
  const clusterName = cfg.eksClusterName;
  const cluster = aws.eks.getClusterOutput({ name: clusterName });
  const issuer = cluster.identities.apply((ids) => {
    const url = ids[0]?.oidcs[0]?.issuer;
    if (!url) throw new Error(`EKS cluster ${clusterName} has no OIDC issuer (${NAMESPACE}:eksClusterName)`);
    return url;
  });
  if (cfg.explicitKubeTarget) return { oidcIssuerUrl: cfg.oidcIssuerUrl ?? issuer };
  const region = aws.getRegionOutput().region;
  const profile = new pulumi.Config("aws").get("profile");
  const kubeconfig = pulumi
    .all([cluster.endpoint, cluster.certificateAuthorities, region])
    .apply(([endpoint, cas, r]) =>
      JSON.stringify(eksKubeconfig({ name: clusterName, endpoint, certificateAuthorityData: cas[0]?.data ?? "", region: r, profile })),
    );
  return { oidcIssuerUrl: cfg.oidcIssuerUrl ?? issuer, provider: providerFrom(name, kubeconfig) };
}

export interface GkeAccess extends ClusterAccess {
  /** The cluster's Workload Identity pool (unless the stack names one). */
  workloadIdentityPool?: pulumi.Input<string>;
  /** Service accounts of the nodes, for `roles/artifactregistry.reader` (unless `grantClusterPull` is false). */
  nodeServiceAccounts?: pulumi.Output<string[]>;
}

export function gkeCluster(name: string, cfg: GcpStackConfig & { explicitKubeTarget: boolean }): GkeAccess {
  if (cfg.gkeClusterName === undefined) return {};
  const clusterName = cfg.gkeClusterName;
  const project = gcp.config.project!;
  const location = cfg.gkeClusterLocation ?? gcp.config.region!;
  const cluster = gcp.container.getClusterOutput({ name: clusterName, location, project });
  const pool = cluster.workloadIdentityConfigs.apply((w) => {
    const p = w[0]?.workloadPool;
    if (!p) {
      throw new Error(
        `GKE cluster ${clusterName} has no Workload Identity: run \`gcloud container clusters update ${clusterName} --location ${location} --workload-pool=${project}.svc.id.goog\``,
      );
    }
    return p;
  });
  const access: GkeAccess = { workloadIdentityPool: cfg.workloadIdentityPool ?? pool };
  if (cfg.grantClusterPull) {
    const number = gcp.organizations.getProjectOutput({ projectId: project }).number;
    access.nodeServiceAccounts = pulumi.all([cluster, number]).apply(([c, n]) => nodeServiceAccounts(c, n));
  }
  if (!cfg.explicitKubeTarget) {
    const kubeconfig = pulumi
      .all([cluster.endpoint, cluster.masterAuths])
      .apply(([endpoint, auths]) =>
        JSON.stringify(gkeKubeconfig({ name: clusterName, endpoint, clusterCaCertificate: auths[0]?.clusterCaCertificate ?? "", project, location })),
      );
    access.provider = providerFrom(name, kubeconfig);
  }
  return access;
}

export interface AksAccess extends ClusterAccess {
  oidcIssuerUrl: pulumi.Input<string>;
  /** Object id of the kubelet identity, for `AcrPull` (unless `grantClusterPull` is false). */
  kubeletPrincipalId?: pulumi.Output<string>;
}

export function aksCluster(name: string, cfg: AzureStackConfig & { explicitKubeTarget: boolean }): AksAccess {
  if (cfg.aksClusterName === undefined) return { oidcIssuerUrl: cfg.oidcIssuerUrl! };
  const clusterName = cfg.aksClusterName;
  const args = { resourceGroupName: cfg.aksResourceGroupName ?? cfg.resourceGroupName, resourceName: clusterName };
  const cluster = azure.containerservice.getManagedClusterOutput(args);
  const issuer = cluster.apply((c) => {
    const url = c.oidcIssuerProfile?.issuerURL;
    if (!url) throw new Error(`AKS cluster ${clusterName} has no OIDC issuer: run \`az aks update --enable-oidc-issuer --enable-workload-identity\``);
    return url;
  });
  const access: AksAccess = { oidcIssuerUrl: cfg.oidcIssuerUrl ?? issuer };
  if (cfg.grantClusterPull) {
    access.kubeletPrincipalId = cluster.apply((c) => {
      const id = c.identityProfile?.kubeletidentity?.objectId;
      if (!id) {
        throw new Error(
          `AKS cluster ${clusterName} has no kubelet managed identity to grant AcrPull to: attach the registry yourself (az aks update --attach-acr) and run \`pulumi config set ${NAMESPACE}:grantClusterPull false\``,
        );
      }
      return id;
    });
  }
  if (!cfg.explicitKubeTarget) {
    const creds =
      cfg.aksCredentials === "admin"
        ? azure.containerservice.listManagedClusterAdminCredentialsOutput(args)
        : azure.containerservice.listManagedClusterUserCredentialsOutput(args);
    // The admin kubeconfig holds a static cluster credential, the user one may too: secret either way.
    access.provider = providerFrom(name, pulumi.secret(creds.kubeconfigs.apply((k) => aksKubeconfig(clusterName, k))));
  }
  return access;
}
