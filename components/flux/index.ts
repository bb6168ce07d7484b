// GitOps layer: the flux-system namespace, the Flux Operator and the FluxInstance that syncs from Git.
export * from "./bootstrap";
export * from "./git";
export * from "./instance";
export * from "./namespace";
export * from "./ownership";
