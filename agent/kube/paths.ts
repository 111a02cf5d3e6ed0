/** Where a pod finds its own namespace (the service-account projection). Apart from client.ts so checking it loads no Kubernetes client. */
export const SERVICE_ACCOUNT_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
