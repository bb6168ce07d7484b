// Read-only access to the Kubernetes API for `npm run status`: GET only, every request bounded. The
// connection comes from the stack's kubeconfig through the same parser the runtime registries use.
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import type { KubeConnection } from "../../../components/registries/createOnly";

export interface KubeResponse {
  status: number;
  body: unknown;
}

export type KubeGet = (apiPath: string) => Promise<KubeResponse>;

/** A GET client for `connection`; a request that takes longer than `timeoutMs` fails with a timeout error. */
export function kubeGetter(connection: KubeConnection, timeoutMs: number): KubeGet {
  const read = (data: string | undefined, file: string | undefined): string | undefined =>
    data ?? (file !== undefined ? fs.readFileSync(file, "utf8") : undefined);
  const ca = read(connection.caData, connection.caFile);
  const cert = read(connection.certData, connection.certFile);
  const key = read(connection.keyData, connection.keyFile);
  const token =
    connection.token ??
    (connection.tokenFile !== undefined ? fs.readFileSync(connection.tokenFile, "utf8").trim() : undefined);
  const server = new URL(connection.server);
  const base = server.pathname.replace(/\/$/, "");
  const transport = server.protocol === "https:" ? https : http;
  return (apiPath) =>
    new Promise<KubeResponse>((resolve, reject) => {
      const request = transport.request(
        {
          protocol: server.protocol,
          hostname: server.hostname.replace(/^\[|\]$/g, ""),
          port: server.port,
          path: `${base}${apiPath}`,
          method: "GET",
          headers: {
            Accept: "application/json",
            ...(token !== undefined ? { Authorization: `Bearer ${token}` } : {}),
          },
          ...(ca !== undefined ? { ca } : {}),
          ...(cert !== undefined ? { cert } : {}),
          ...(key !== undefined ? { key } : {}),
          ...(connection.tlsServerName !== undefined ? { servername: connection.tlsServerName } : {}),
          rejectUnauthorized: connection.insecureSkipTlsVerify !== true,
          // Never a proxy from the environment: the stack's kubeconfig names the API's own address.
          agent: false,
          timeout: timeoutMs,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on("data", (c: Buffer) => chunks.push(c));
          response.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let body: unknown = text;
            try {
              body = JSON.parse(text) as unknown;
            } catch {
              // Not JSON (an HTML error page of a proxy): kept as text for the message.
            }
            resolve({ status: response.statusCode ?? 0, body });
          });
          response.on("error", reject);
        },
      );
      request.on("timeout", () =>
        request.destroy(new Error(`no answer within ${String(timeoutMs / 1000)} s`)),
      );
      request.on("error", reject);
      request.end();
    });
}

/** The object at `apiPath`, undefined when it does not exist (404); other statuses are errors. */
export async function getObject<T>(get: KubeGet, apiPath: string): Promise<T | undefined> {
  const response = await get(apiPath);
  if (response.status === 404) {
    return undefined;
  }
  if (response.status !== 200) {
    throw new Error(`GET ${apiPath}: HTTP ${String(response.status)}${statusMessage(response.body)}`);
  }
  return response.body as T;
}

function statusMessage(body: unknown): string {
  const message = (body as { message?: unknown } | null)?.message;
  return typeof message === "string" ? `: ${message}` : "";
}

/** The metadata, spec and status fields the probes read. */
export interface KubeObject {
  metadata?: { name?: string; namespace?: string; creationTimestamp?: string };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  data?: Record<string, string>;
}

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

export function condition(object: KubeObject | undefined, type: string): Condition | undefined {
  const conditions = object?.status?.["conditions"];
  return Array.isArray(conditions) ? (conditions as Condition[]).find((c) => c.type === type) : undefined;
}

/** A condition as `Ready=False (Reason): message`, the words the controller wrote. */
export function conditionText(c: Condition): string {
  return `${c.type}=${c.status}${c.reason !== undefined ? ` (${c.reason})` : ""}${c.message !== undefined ? `: ${c.message}` : ""}`;
}
