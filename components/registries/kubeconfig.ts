// The API server address and credentials of a kubeconfig, for the create-only registries (createOnly.ts),
// which talk to the API without the Kubernetes provider.
import * as YAML from "yaml";
import type { KubeConnection } from "./createOnly";

/** An entry of a kubeconfig's `clusters`, `users` or `contexts` list. */
type Named = Partial<Record<"name" | "cluster" | "user" | "context", unknown>>;

function entry(list: unknown, name: string, field: "cluster" | "user" | "context"): Record<string, unknown> {
  const found = Array.isArray(list) ? (list as Named[]).find((e) => e.name === name) : undefined;
  const value = found?.[field];
  if (typeof value !== "object" || value === null) {
    throw new Error(`kubeconfig: no ${field} named ${JSON.stringify(name)}`);
  }
  return value as Record<string, unknown>;
}

function optionalString(object: Record<string, unknown>, key: string): string | undefined {
  const value = object[key];
  return typeof value === "string" && value !== "" ? value : undefined;
}

function decoded(value: string | undefined): string | undefined {
  return value === undefined ? undefined : Buffer.from(value, "base64").toString("utf8");
}

/**
 * The connection of the kubeconfig's current context (or its only context). Supports what k3s and most
 * distributions write: client certificates, bearer tokens, CA data or files. Exec plugins and auth providers
 * (cloud logins) cannot run in the dynamic-provider host and are rejected with an explanation.
 */
export function kubeConnection(kubeconfig: string): KubeConnection {
  let parsed: unknown;
  try {
    parsed = YAML.parse(kubeconfig);
  } catch {
    throw new Error("kubeconfig: not valid YAML");
  }
  if (typeof parsed !== "object" || parsed === null) {
    throw new Error("kubeconfig: not a kubeconfig document");
  }
  const doc = parsed as Record<string, unknown>;
  const contexts = Array.isArray(doc["contexts"]) ? (doc["contexts"] as Named[]) : [];
  const current = optionalString(doc, "current-context");
  const contextName = current ?? (contexts.length === 1 ? contexts[0]?.name : undefined);
  if (typeof contextName !== "string") {
    throw new Error("kubeconfig: no current-context, and not exactly one context");
  }
  const context = entry(doc["contexts"], contextName, "context");
  const cluster = entry(doc["clusters"], String(context["cluster"]), "cluster");
  const user = entry(doc["users"], String(context["user"]), "user");

  for (const unsupported of ["exec", "auth-provider"]) {
    if (user[unsupported] !== undefined) {
      throw new Error(
        `kubeconfig: user ${String(context["user"])} authenticates with '${unsupported}', which the runtime ` +
          "registries cannot use; give a kubeconfig with a client certificate or a token",
      );
    }
  }
  if (cluster["proxy-url"] !== undefined) {
    throw new Error("kubeconfig: 'proxy-url' is not supported by the runtime registries");
  }
  const server = optionalString(cluster, "server");
  if (server === undefined || !/^https?:\/\//.test(server)) {
    throw new Error(`kubeconfig: cluster ${String(context["cluster"])} has no http(s) server URL`);
  }
  const fields: Record<keyof KubeConnection, string | boolean | undefined> = {
    server,
    caData: decoded(optionalString(cluster, "certificate-authority-data")),
    caFile: optionalString(cluster, "certificate-authority"),
    certData: decoded(optionalString(user, "client-certificate-data")),
    certFile: optionalString(user, "client-certificate"),
    keyData: decoded(optionalString(user, "client-key-data")),
    keyFile: optionalString(user, "client-key"),
    token: optionalString(user, "token"),
    tokenFile: optionalString(user, "tokenFile"),
    insecureSkipTlsVerify: cluster["insecure-skip-tls-verify"] === true ? true : undefined,
    tlsServerName: optionalString(cluster, "tls-server-name"),
  };
  // Only the keys that are set, in a fixed order: the connection is compared as JSON between runs.
  return Object.fromEntries(
    Object.entries(fields).filter(([, v]) => v !== undefined),
  ) as unknown as KubeConnection;
}
