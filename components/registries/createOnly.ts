// A ConfigMap that is created when absent and never modified afterwards: a Pulumi dynamic resource that talks
// to the Kubernetes API directly (no kubectl).
//
// Why not a `k8s.core.v1.ConfigMap`: with @pulumi/kubernetes >= 4.29 creating an object that already exists
// fails (AlreadyExists), so a new stack (disaster recovery, lost state) cannot start against a cluster whose
// registries hold runtime data. `upsertExistingObjects` turns that create into a server-side apply of our
// `data`, which either conflicts with the runtime's field manager (`kubectl-patch`; the run fails) or, with
// patch force, overwrites the runtime's entries. Neither is "leave it alone". This resource issues a plain
// POST: 201 means we created it, 409 AlreadyExists means someone did and we adopt it untouched. It never sends
// PUT/PATCH, and DELETE only when the stack opted in (`deleteOnDestroy`).
//
// The provider object is serialized into the stack state and runs in Pulumi's dynamic-provider host, so the
// code below is self-contained: module-level functions and constants that are not exported (TypeScript
// compiles references to exported constants as `exports.X`, which would drag the whole module along) and
// `require` inside function bodies.
import * as pulumi from "@pulumi/pulumi";

/** How to reach the Kubernetes API, extracted from a kubeconfig by `kubeConnection`. */
export interface KubeConnection {
  /** API server URL, e.g. `https://100.64.0.10:6443`. */
  server: string;
  /** PEM certificate(s) of the cluster CA. */
  caData?: string;
  caFile?: string;
  /** PEM client certificate and key. */
  certData?: string;
  certFile?: string;
  keyData?: string;
  keyFile?: string;
  /** Bearer token. */
  token?: string;
  tokenFile?: string;
  insecureSkipTlsVerify?: boolean;
  tlsServerName?: string;
}

/** Inputs (and outputs) of a CreateOnlyConfigMap. */
export interface CreateOnlyConfigMapState {
  connection: KubeConnection;
  namespace: string;
  name: string;
  /** Data written at creation; the token `<creation-time>` becomes the creation time (ISO 8601, UTC). */
  data: Record<string, string>;
  deleteOnDestroy: boolean;
  /** Output: `created` when this stack created the ConfigMap, `adopted` when it already existed. */
  origin?: "created" | "adopted";
  /** Output: when this stack created it. */
  createdAt?: string;
}

const CREATION_TIME = "<creation-time>";
/** Exported alias for templates; provider code below uses the local constant (see header). */
export { CREATION_TIME as CREATION_TIME_TOKEN };
const FIELD_MANAGER = "mynodeone-bootstrap";
/** Waits between attempts when the API server is unreachable or overloaded (about a minute in total). */
const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 15000, 30000];
const REQUEST_TIMEOUT_MS = 30000;

interface ApiResponse {
  status: number;
  body: unknown;
}

function readFile(file: string): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- runs in the dynamic-provider host
  const fs = require("node:fs") as typeof import("node:fs");
  return fs.readFileSync(file, "utf8");
}

/** One HTTP request to the API server; resolves with any status, rejects on transport errors. */
function apiRequest(
  connection: KubeConnection,
  method: string,
  path: string,
  body?: unknown,
): Promise<ApiResponse> {
  const url = new URL(connection.server.replace(/\/+$/, "") + path);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- runs in the dynamic-provider host
  const transport = require(
    url.protocol === "https:" ? "node:https" : "node:http",
  ) as typeof import("node:https");
  const token =
    connection.token ?? (connection.tokenFile !== undefined ? readFile(connection.tokenFile).trim() : "");
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string | number> = { Accept: "application/json" };
  if (token !== "") {
    headers["Authorization"] = `Bearer ${token}`;
  }
  if (payload !== undefined) {
    headers["Content-Type"] = "application/json";
    headers["Content-Length"] = Buffer.byteLength(payload);
  }
  const ca = connection.caData ?? (connection.caFile !== undefined ? readFile(connection.caFile) : undefined);
  const cert =
    connection.certData ?? (connection.certFile !== undefined ? readFile(connection.certFile) : undefined);
  const key =
    connection.keyData ?? (connection.keyFile !== undefined ? readFile(connection.keyFile) : undefined);
  return new Promise((resolve, reject) => {
    const request = transport.request(
      url,
      {
        method,
        headers,
        timeout: REQUEST_TIMEOUT_MS,
        rejectUnauthorized: connection.insecureSkipTlsVerify !== true,
        ...(ca !== undefined ? { ca } : {}),
        ...(cert !== undefined ? { cert } : {}),
        ...(key !== undefined ? { key } : {}),
        ...(connection.tlsServerName !== undefined ? { servername: connection.tlsServerName } : {}),
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON (e.g. a proxy's error page): keep the text
          }
          resolve({ status: response.statusCode ?? 0, body: parsed });
        });
        response.on("error", reject);
      },
    );
    request.on("timeout", () =>
      request.destroy(new Error(`no response within ${REQUEST_TIMEOUT_MS / 1000} s`)),
    );
    request.on("error", reject);
    request.end(payload);
  });
}

/** The API's explanation of a failed request (a `Status` object), or a short description of the body. */
function apiMessage(response: ApiResponse): string {
  const body = response.body as { reason?: unknown; message?: unknown } | string | null;
  if (typeof body === "object" && body !== null && typeof body.message === "string") {
    return `${typeof body.reason === "string" ? `${body.reason}: ` : ""}${body.message}`;
  }
  return typeof body === "string" ? body.slice(0, 200) : "no details";
}

/** `apiRequest`, retried while the API server is unreachable or answers 429/5xx; bounded to about a minute. */
async function apiRequestWithRetries(
  connection: KubeConnection,
  method: string,
  path: string,
  body?: unknown,
): Promise<ApiResponse> {
  let lastProblem = "";
  for (let attempt = 0; attempt <= RETRY_DELAYS_MS.length; attempt++) {
    if (attempt > 0) {
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAYS_MS[attempt - 1]));
    }
    try {
      const response = await apiRequest(connection, method, path, body);
      if (response.status !== 429 && response.status < 500) {
        return response;
      }
      lastProblem = `HTTP ${response.status} ${apiMessage(response)}`;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      // Certificate problems do not go away by waiting.
      if (typeof code === "string" && (code.startsWith("ERR_TLS") || code.includes("CERT"))) {
        throw new Error(`${method} ${connection.server}${path}: TLS verification failed (${code})`);
      }
      lastProblem = err instanceof Error ? err.message : String(err);
    }
  }
  throw new Error(
    `${method} ${connection.server}${path} failed after ${RETRY_DELAYS_MS.length + 1} attempts: ${lastProblem}`,
  );
}

function configMapPath(namespace: string, name?: string): string {
  const base = `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`;
  return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
}

/** Current time as ISO 8601 UTC without milliseconds, like `date -u +%Y-%m-%dT%H:%M:%SZ`. */
function isoNow(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
}

async function createIfAbsent(inputs: CreateOnlyConfigMapState): Promise<pulumi.dynamic.CreateResult> {
  const createdAt = isoNow();
  const data = Object.fromEntries(
    Object.entries(inputs.data).map(([key, value]) => [key, value.split(CREATION_TIME).join(createdAt)]),
  );
  const response = await apiRequestWithRetries(
    inputs.connection,
    "POST",
    `${configMapPath(inputs.namespace)}?fieldManager=${FIELD_MANAGER}`,
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: inputs.name, namespace: inputs.namespace },
      data,
    },
  );
  const id = `${inputs.namespace}/${inputs.name}`;
  if (response.status === 200 || response.status === 201) {
    return { id, outs: { ...inputs, origin: "created", createdAt } };
  }
  if (response.status === 409 && (response.body as { reason?: unknown } | null)?.reason === "AlreadyExists") {
    return { id, outs: { ...inputs, origin: "adopted" } };
  }
  throw new Error(`creating ConfigMap ${id} failed: HTTP ${response.status} ${apiMessage(response)}`);
}

/** Whether two connections may reach different clusters (another server address or CA), not just log in anew. */
function otherApi(olds: KubeConnection, news: KubeConnection): boolean {
  return olds.server !== news.server || olds.caData !== news.caData || olds.caFile !== news.caFile;
}

/**
 * The dynamic provider. `diff` ignores `data` on purpose: after creation the runtime owns it, so a changed
 * template (or creation time) never leads to an update. A new credential or `deleteOnDestroy` only updates the
 * stack state, without any request to the cluster. A new API address or CA may be another cluster (a rebuild
 * onto new hosts): there the update makes sure the registry exists, with the same create-if-absent POST as a
 * create (on the same cluster that POST is answered 409 and writes nothing).
 */
export const createOnlyConfigMapProvider: pulumi.dynamic.ResourceProvider<
  CreateOnlyConfigMapState,
  CreateOnlyConfigMapState
> = {
  create: (inputs) => createIfAbsent(inputs),

  diff(_id, olds, news) {
    const replaces = (["namespace", "name"] as const).filter((key) => olds[key] !== news[key]);
    const changes =
      replaces.length > 0 ||
      JSON.stringify(olds.connection) !== JSON.stringify(news.connection) ||
      olds.deleteOnDestroy !== news.deleteOnDestroy;
    return Promise.resolve({ changes, replaces });
  },

  async update(_id, olds, news) {
    const outs = { ...olds, connection: news.connection, deleteOnDestroy: news.deleteOnDestroy };
    if (!otherApi(olds.connection, news.connection)) {
      return { outs };
    }
    const ensured = (await createIfAbsent({ ...olds, ...news })).outs as CreateOnlyConfigMapState;
    // Created there now: a new history. Already there (the same cluster, or Flux or the runtime was first): as is.
    return { outs: ensured.origin === "created" ? { ...outs, ...ensured } : outs };
  },

  async read(id, props) {
    if (props === undefined) {
      return { id };
    }
    let response: ApiResponse;
    try {
      response = await apiRequestWithRetries(
        props.connection,
        "GET",
        configMapPath(props.namespace, props.name),
      );
    } catch (err) {
      // A refresh reads through the connection in the state, which after a rebuild onto new hosts is the old,
      // dead API: keep the entry as it is rather than fail the refresh; the next `up` sees the new connection
      // and makes sure the registry exists there (update). Never a reason to drop it from the state. A TLS
      // failure is not a dead API: it fails the refresh (a wrong CA, or someone else answering).
      if (err instanceof Error && err.message.includes("TLS verification failed")) {
        throw err;
      }
      return { id, props };
    }
    if (response.status === 404) {
      // Gone: a blank id drops it from the state, and the next `pulumi up` creates it again.
      return { id: "" };
    }
    if (response.status !== 200) {
      throw new Error(`reading ConfigMap ${id} failed: HTTP ${response.status} ${apiMessage(response)}`);
    }
    return { id, props };
  },

  async delete(id, props) {
    if (!props.deleteOnDestroy) {
      return;
    }
    const response = await apiRequestWithRetries(
      props.connection,
      "DELETE",
      configMapPath(props.namespace, props.name),
    );
    if (response.status !== 200 && response.status !== 202 && response.status !== 404) {
      throw new Error(`deleting ConfigMap ${id} failed: HTTP ${response.status} ${apiMessage(response)}`);
    }
  },
};

export interface CreateOnlyConfigMapArgs {
  /** Secret: holds credentials. */
  connection: pulumi.Input<KubeConnection>;
  namespace: pulumi.Input<string>;
  name: pulumi.Input<string>;
  data: pulumi.Input<Record<string, pulumi.Input<string>>>;
  deleteOnDestroy: pulumi.Input<boolean>;
}

export class CreateOnlyConfigMap extends pulumi.dynamic.Resource {
  declare public readonly origin: pulumi.Output<"created" | "adopted">;
  declare public readonly createdAt: pulumi.Output<string | undefined>;

  constructor(name: string, args: CreateOnlyConfigMapArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      createOnlyConfigMapProvider,
      name,
      { ...args, origin: undefined, createdAt: undefined },
      // The connection carries credentials; `data` in the state stays what was sent at creation.
      pulumi.mergeOptions(opts, { additionalSecretOutputs: ["connection"], ignoreChanges: ["data"] }),
      "registries",
      "CreateOnlyConfigMap",
    );
  }
}
