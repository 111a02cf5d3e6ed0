export * from "./agent-image.js";
export * from "./launch-agent.js";
export * from "./manifests.js";
export * from "./generic-environment.js";
export * from "./kubeconfig.js";
export * from "./labels.js";
export * from "./names.js";
