// SOPS keys for Flux: validation at program start and the `sops-gpg` Secret.
export * from "./keys";
export * from "./secret";
