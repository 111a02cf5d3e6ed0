// Kubernetes' DNS-1123 name rules, for the namespaces and ServiceAccount names the environments bind identities
// to: a name the API server would refuse must fail at preview, before any cloud identity trusts it.

/** Namespaces are DNS-1123 labels: at most 63 of lowercase letters, digits and `-`, alphanumeric at both ends. */
export function isK8sNamespace(value: string): boolean {
  return /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(value);
}

/** ServiceAccount names are DNS-1123 subdomains: dot-separated labels, at most 253 characters in all. */
export function isK8sServiceAccountName(value: string): boolean {
  return /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(value);
}
