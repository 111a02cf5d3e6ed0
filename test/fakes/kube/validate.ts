import type { StatusCause } from "./status.js";

/**
 * The subset of the API server's object validation our agent can trip over, with the real field
 * paths and message texts: names (RFC 1123), labels, Job pod templates (containers, images,
 * restartPolicy, env, volume mounts) and Secret/ConfigMap data.
 */

type Obj = Record<string, unknown>;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const LABEL_VALUE_MSG =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

export const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

const required = (field: string, detail?: string): StatusCause => ({ reason: "FieldValueRequired", message: detail ? `Required value: ${detail}` : "Required value", field });
const badValue = (field: string, value: unknown, detail: string): StatusCause => ({
  reason: "FieldValueInvalid",
  message: `Invalid value: ${JSON.stringify(value)}: ${detail}`,
  field,
});
const unsupported = (field: string, value: unknown, allowed: string[]): StatusCause => ({
  reason: "FieldValueNotSupported",
  message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${allowed.map((a) => JSON.stringify(a)).join(", ")}`,
  field,
});
const notFoundField = (field: string, value: unknown): StatusCause => ({ reason: "FieldValueNotFound", message: `Not found: ${JSON.stringify(value)}`, field });
const duplicate = (field: string, value: unknown): StatusCause => ({ reason: "FieldValueDuplicate", message: `Duplicate value: ${JSON.stringify(value)}`, field });

export function validateName(name: string, maxLen: number, field = "metadata.name"): StatusCause[] {
  const out: StatusCause[] = [];
  if (name.length > maxLen) out.push(badValue(field, name, `must be no more than ${maxLen} characters`));
  if (!DNS1123_SUBDOMAIN.test(name)) out.push(badValue(field, name, SUBDOMAIN_MSG));
  return out;
}

function validateLabels(labels: unknown, field: string): StatusCause[] {
  if (labels === undefined) return [];
  if (!isObj(labels)) return [badValue(field, labels, "must be a map of string to string")];
  const out: StatusCause[] = [];
  for (const [k, v] of Object.entries(labels)) {
    const [prefix, name] = k.includes("/") ? [k.slice(0, k.indexOf("/")), k.slice(k.indexOf("/") + 1)] : [null, k];
    if ((prefix !== null && (!DNS1123_SUBDOMAIN.test(prefix) || prefix.length > 253)) || name.length > 63 || !QUALIFIED_NAME.test(name)) {
      out.push(badValue(field, k, "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"));
    }
    if (typeof v !== "string") out.push(badValue(`${field}`, v, "label values must be strings"));
    else {
      if (v.length > 63) out.push(badValue(field, v, "must be no more than 63 characters"));
      if (!LABEL_VALUE.test(v)) out.push(badValue(field, v, LABEL_VALUE_MSG));
    }
  }
  return out;
}

/** metadata: name (or generateName, already resolved by the caller), labels, annotations. */
export function validateMeta(meta: Obj, maxNameLen: number, field = "metadata"): StatusCause[] {
  const out: StatusCause[] = [];
  const name = meta.name;
  if (typeof name !== "string" || name === "") out.push(required(`${field}.name`, "name or generateName is required"));
  else out.push(...validateName(name, maxNameLen, `${field}.name`));
  out.push(...validateLabels(meta.labels, `${field}.labels`));
  if (meta.annotations !== undefined && !isObj(meta.annotations)) out.push(badValue(`${field}.annotations`, meta.annotations, "must be a map"));
  return out;
}

function validateEnv(env: unknown, field: string): StatusCause[] {
  if (env === undefined) return [];
  if (!Array.isArray(env)) return [badValue(field, env, "must be a list")];
  const out: StatusCause[] = [];
  env.forEach((e, i) => {
    const f = `${field}[${i}]`;
    if (!isObj(e)) return out.push(badValue(f, e, "must be an object"));
    if (typeof e.name !== "string" || !e.name) out.push(required(`${f}.name`));
    else if (!ENV_NAME.test(e.name)) out.push(badValue(`${f}.name`, e.name, "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit"));
    if (e.value !== undefined && typeof e.value !== "string") out.push(badValue(`${f}.value`, e.value, "must be a string"));
    if (e.valueFrom !== undefined) {
      if (typeof e.value === "string" && e.value !== "") out.push(badValue(`${f}.valueFrom`, "", "may not be specified when `value` is not empty"));
      const vf = e.valueFrom;
      if (!isObj(vf)) out.push(badValue(`${f}.valueFrom`, vf, "must be an object"));
      else if (isObj(vf.secretKeyRef) || isObj(vf.configMapKeyRef)) {
        const ref = (vf.secretKeyRef ?? vf.configMapKeyRef) as Obj;
        const which = isObj(vf.secretKeyRef) ? "secretKeyRef" : "configMapKeyRef";
        if (typeof ref.name !== "string" || !ref.name) out.push(required(`${f}.valueFrom.${which}.name`));
        if (typeof ref.key !== "string" || !ref.key) out.push(required(`${f}.valueFrom.${which}.key`));
      } else if (!isObj(vf.fieldRef) && !isObj(vf.resourceFieldRef)) {
        out.push(badValue(`${f}.valueFrom`, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"));
      }
    }
    return undefined;
  });
  return out;
}

function validateContainers(list: unknown, field: string, volumes: Set<string>, requireNonEmpty: boolean): StatusCause[] {
  if (list === undefined || (Array.isArray(list) && list.length === 0)) return requireNonEmpty ? [required(field)] : [];
  if (!Array.isArray(list)) return [badValue(field, list, "must be a list")];
  const out: StatusCause[] = [];
  const names = new Set<string>();
  list.forEach((c, i) => {
    const f = `${field}[${i}]`;
    if (!isObj(c)) return out.push(badValue(f, c, "must be an object"));
    if (typeof c.name !== "string" || !c.name) out.push(required(`${f}.name`));
    else {
      if (!DNS1123_LABEL.test(c.name) || c.name.length > 63) out.push(badValue(`${f}.name`, c.name, LABEL_MSG));
      if (names.has(c.name)) out.push(duplicate(`${f}.name`, c.name));
      names.add(c.name);
    }
    if (typeof c.image !== "string" || c.image.trim() === "") out.push(required(`${f}.image`));
    for (const key of ["command", "args"] as const) {
      const v = c[key];
      if (v !== undefined && !(Array.isArray(v) && v.every((s) => typeof s === "string"))) out.push(badValue(`${f}.${key}`, v, "must be a list of strings"));
    }
    out.push(...validateEnv(c.env, `${f}.env`));
    if (c.volumeMounts !== undefined) {
      const paths = new Set<string>();
      if (!Array.isArray(c.volumeMounts)) out.push(badValue(`${f}.volumeMounts`, c.volumeMounts, "must be a list"));
      else
        c.volumeMounts.forEach((m, j) => {
          const mf = `${f}.volumeMounts[${j}]`;
          if (!isObj(m)) return out.push(badValue(mf, m, "must be an object"));
          if (typeof m.name !== "string" || !m.name) out.push(required(`${mf}.name`));
          else if (!volumes.has(m.name)) out.push(notFoundField(`${mf}.name`, m.name));
          if (typeof m.mountPath !== "string" || !m.mountPath) out.push(required(`${mf}.mountPath`));
          else {
            const norm = m.mountPath.replace(/\/+$/, "") || "/";
            if (paths.has(norm)) out.push(badValue(`${mf}.mountPath`, m.mountPath, "must be unique"));
            paths.add(norm);
          }
          return undefined;
        });
    }
    return undefined;
  });
  return out;
}

/** A pod spec; `restartPolicies` narrows what the owner allows (Jobs: Never, OnFailure). */
export function validatePodSpec(spec: unknown, field: string, restartPolicies: string[]): StatusCause[] {
  if (!isObj(spec)) return [required(field)];
  const out: StatusCause[] = [];
  const volumes = new Set<string>();
  if (spec.volumes !== undefined) {
    if (!Array.isArray(spec.volumes)) out.push(badValue(`${field}.volumes`, spec.volumes, "must be a list"));
    else
      spec.volumes.forEach((v, i) => {
        const vf = `${field}.volumes[${i}]`;
        if (!isObj(v) || typeof v.name !== "string" || !v.name) return out.push(required(`${vf}.name`));
        if (!DNS1123_LABEL.test(v.name)) out.push(badValue(`${vf}.name`, v.name, LABEL_MSG));
        if (volumes.has(v.name)) out.push(duplicate(`${vf}.name`, v.name));
        volumes.add(v.name);
        const sources = Object.keys(v).filter((k) => k !== "name");
        if (sources.length === 0) out.push(required(vf, "must specify a volume type"));
        if (sources.length > 1) out.push({ reason: "FieldValueForbidden", message: "Forbidden: may not specify more than 1 volume type", field: vf });
        return undefined;
      });
  }
  out.push(...validateContainers(spec.containers, `${field}.containers`, volumes, true));
  out.push(...validateContainers(spec.initContainers, `${field}.initContainers`, volumes, false));
  const rp = spec.restartPolicy;
  if (rp === undefined) {
    if (!restartPolicies.includes("Always")) out.push(required(`${field}.restartPolicy`, `valid values: ${restartPolicies.map((p) => JSON.stringify(p)).join(", ")}`));
  } else if (!restartPolicies.includes(String(rp))) out.push(unsupported(`${field}.restartPolicy`, rp, restartPolicies));
  if (spec.serviceAccountName !== undefined && (typeof spec.serviceAccountName !== "string" || !DNS1123_SUBDOMAIN.test(spec.serviceAccountName))) {
    out.push(badValue(`${field}.serviceAccountName`, spec.serviceAccountName, SUBDOMAIN_MSG));
  }
  return out;
}

export function validateJob(job: Obj): StatusCause[] {
  const out = validateMeta(isObj(job.metadata) ? job.metadata : {}, 63);
  const spec = job.spec;
  if (!isObj(spec)) return [...out, required("spec.template")];
  for (const key of ["backoffLimit", "ttlSecondsAfterFinished", "activeDeadlineSeconds", "parallelism", "completions"] as const) {
    const v = spec[key];
    if (v !== undefined && (typeof v !== "number" || !Number.isInteger(v) || v < 0 || (key === "activeDeadlineSeconds" && v === 0))) {
      out.push(badValue(`spec.${key}`, v, key === "activeDeadlineSeconds" ? "must be greater than 0" : "must be greater than or equal to 0"));
    }
  }
  const template = spec.template;
  if (!isObj(template)) return [...out, required("spec.template")];
  const tmeta = isObj(template.metadata) ? template.metadata : {};
  out.push(...validateLabels(tmeta.labels, "spec.template.metadata.labels"));
  out.push(...validatePodSpec(template.spec, "spec.template.spec", ["OnFailure", "Never"]));
  return out;
}

function validateDataMap(data: unknown, field: string, base64: boolean): StatusCause[] {
  if (data === undefined) return [];
  if (!isObj(data)) return [badValue(field, data, "must be a map of string to string")];
  const out: StatusCause[] = [];
  for (const [k, v] of Object.entries(data)) {
    if (!CONFIG_KEY.test(k)) out.push(badValue(`${field}[${k}]`, k, "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"));
    if (typeof v !== "string") out.push(badValue(`${field}[${k}]`, v, "must be a string"));
    else if (base64 && !BASE64.test(v)) out.push(badValue(`${field}[${k}]`, "<value omitted>", "illegal base64 data"));
  }
  return out;
}

export function validateSecret(secret: Obj): StatusCause[] {
  const out = validateMeta(isObj(secret.metadata) ? secret.metadata : {}, 253);
  out.push(...validateDataMap(secret.data, "data", true));
  out.push(...validateDataMap(secret.stringData, "stringData", false));
  const keys = new Set([...Object.keys(isObj(secret.data) ? secret.data : {}), ...Object.keys(isObj(secret.stringData) ? secret.stringData : {})]);
  if (secret.type === "kubernetes.io/basic-auth" && !keys.has("username") && !keys.has("password")) {
    out.push(required("data[username]", "at least one of username or password is required"));
  }
  if (secret.type === "kubernetes.io/dockerconfigjson" && !keys.has(".dockerconfigjson")) out.push(required("data[.dockerconfigjson]"));
  return out;
}

export function validateConfigMap(cm: Obj): StatusCause[] {
  const out = validateMeta(isObj(cm.metadata) ? cm.metadata : {}, 253);
  out.push(...validateDataMap(cm.data, "data", false));
  return out;
}

/** The 5-character random suffix the API server appends to a generateName. */
export function generatedSuffix(): string {
  const alphabet = "bcdfghjklmnpqrstvwxz2456789";
  let s = "";
  for (let i = 0; i < 5; i++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
  return s;
}

/** The API server keeps at most 58 characters of a generateName before the suffix. */
export function nameFromGenerateName(generateName: string): string {
  return generateName.slice(0, 58) + generatedSuffix();
}

/** Fields the typed schemas know, per level: the rest is unknown (pruned with a warning, or refused with fieldValidation=Strict). */
const KNOWN_TOP = ["apiVersion", "kind", "metadata", "spec", "status"];
const KNOWN_SPEC: Record<string, string[]> = {
  Deployment: ["replicas", "selector", "template", "strategy", "minReadySeconds", "revisionHistoryLimit", "paused", "progressDeadlineSeconds"],
  Service: ["ports", "selector", "clusterIP", "clusterIPs", "type", "externalIPs", "sessionAffinity", "loadBalancerIP", "loadBalancerSourceRanges", "externalName", "externalTrafficPolicy", "healthCheckNodePort", "publishNotReadyAddresses", "sessionAffinityConfig", "ipFamilies", "ipFamilyPolicy", "allocateLoadBalancerNodePorts", "loadBalancerClass", "internalTrafficPolicy", "trafficDistribution"],
  Pod: ["volumes", "initContainers", "containers", "ephemeralContainers", "restartPolicy", "terminationGracePeriodSeconds", "activeDeadlineSeconds", "dnsPolicy", "nodeSelector", "serviceAccountName", "automountServiceAccountToken", "nodeName", "hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace", "securityContext", "imagePullSecrets", "hostname", "subdomain", "affinity", "schedulerName", "tolerations", "hostAliases", "priorityClassName", "priority", "dnsConfig", "readinessGates", "runtimeClassName", "enableServiceLinks", "preemptionPolicy", "overhead", "topologySpreadConstraints", "setHostnameAsFQDN", "os", "hostUsers", "schedulingGates", "resourceClaims", "resources"],
};

/** Unknown fields of a built-in object (top level and spec), as `.spec.foo` paths. */
export function unknownFields(obj: Obj, kind: string): string[] {
  const out = Object.keys(obj).filter((k) => !KNOWN_TOP.includes(k)).map((k) => `.${k}`);
  const known = KNOWN_SPEC[kind];
  if (known && isObj(obj.spec)) for (const k of Object.keys(obj.spec)) if (!known.includes(k)) out.push(`.spec.${k}`);
  return out;
}

function selectorMatches(selector: unknown, labels: unknown): boolean {
  if (!isObj(selector) || !isObj(selector.matchLabels)) return false;
  const have = isObj(labels) ? labels : {};
  return Object.entries(selector.matchLabels).every(([k, v]) => have[k] === v);
}

export function validateDeployment(d: Obj): StatusCause[] {
  const out = validateMeta(isObj(d.metadata) ? d.metadata : {}, 253);
  const spec = d.spec;
  if (!isObj(spec)) return [...out, required("spec.selector"), required("spec.template.metadata.labels")];
  if (spec.replicas !== undefined && (typeof spec.replicas !== "number" || !Number.isInteger(spec.replicas) || spec.replicas < 0)) {
    out.push(badValue("spec.replicas", spec.replicas, "must be greater than or equal to 0"));
  }
  if (!isObj(spec.selector)) out.push(required("spec.selector"));
  const template = isObj(spec.template) ? spec.template : {};
  const tmeta = isObj(template.metadata) ? template.metadata : {};
  out.push(...validateLabels(tmeta.labels, "spec.template.metadata.labels"));
  if (isObj(spec.selector) && !selectorMatches(spec.selector, tmeta.labels)) {
    out.push(badValue("spec.template.metadata.labels", tmeta.labels ?? {}, "`selector` does not match template `labels`"));
  }
  out.push(...validatePodSpec(template.spec, "spec.template.spec", ["Always"]));
  return out;
}

export function validateService(s: Obj): StatusCause[] {
  const out = validateMeta(isObj(s.metadata) ? s.metadata : {}, 63);
  const meta = isObj(s.metadata) ? s.metadata : {};
  if (typeof meta.name === "string" && !DNS1123_LABEL.test(meta.name)) out.push(badValue("metadata.name", meta.name, LABEL_MSG));
  const spec = isObj(s.spec) ? s.spec : {};
  const headless = spec.clusterIP === "None" || spec.type === "ExternalName";
  const ports = spec.ports;
  if (ports === undefined || (Array.isArray(ports) && ports.length === 0)) {
    if (!headless) out.push(required("spec.ports"));
  } else if (!Array.isArray(ports)) out.push(badValue("spec.ports", ports, "must be a list"));
  else
    ports.forEach((p, i) => {
      if (!isObj(p) || typeof p.port !== "number" || !Number.isInteger(p.port) || p.port < 1 || p.port > 65535) {
        out.push(badValue(`spec.ports[${i}].port`, isObj(p) ? p.port : p, "must be between 1 and 65535, inclusive"));
      }
      if (ports.length > 1 && isObj(p) && (typeof p.name !== "string" || !p.name)) out.push(required(`spec.ports[${i}].name`));
    });
  const types = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
  if (spec.type !== undefined && !types.includes(String(spec.type))) out.push(unsupported("spec.type", spec.type, types));
  return out;
}

export function validatePod(p: Obj): StatusCause[] {
  return [...validateMeta(isObj(p.metadata) ? p.metadata : {}, 253), ...validatePodSpec(p.spec, "spec", ["Always", "OnFailure", "Never"])];
}
