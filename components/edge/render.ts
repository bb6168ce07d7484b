// Pure renderers for the edge host: Traefik's static configuration, its systemd unit and the route-sync
// identity's authorized_keys. No Pulumi here, so every byte that reaches a host is unit-tested directly.
import { Document } from "yaml";
import { acceptedKeyTypes, acceptsKeyType, AUTHORIZED_USER_KEY, keyBlobType } from "../config/validate";

/** Where things live on an edge host. The scripts receive these as env values, so TS and bash agree. */
export const EDGE_PATHS = {
  binDir: "/usr/local/bin",
  binary: "/usr/local/bin/traefik",
  configFile: "/etc/traefik/traefik.yml",
  acmeDir: "/var/lib/traefik",
  acmeStorage: "/var/lib/traefik/acme.json",
  logDir: "/var/log/traefik",
  accessLog: "/var/log/traefik/access.log",
  /** Home of the route-sync user: root-owned, holds only `.ssh/authorized_keys`. */
  syncHome: "/var/lib/traefik-sync",
  /** Forced command of every route-sync key (installed from scripts/route-sync.sh). */
  routeSyncCommand: "/usr/local/lib/mynodeone/traefik-route-sync",
} as const;

/** System user Traefik runs as. */
export const TRAEFIK_USER = "traefik";
/** SSH user the runtime's route pusher logs in as. */
export const SYNC_USER = "traefik-sync";

/** Names the runtime's route files refer to (runtime-contract.md): they must never change. */
export const ENTRY_POINT_HTTP = "web";
export const ENTRY_POINT_HTTPS = "websecure";
export const CERT_RESOLVER = "letsencrypt";
/**
 * Ping's entry point. Naming it `traefik` (Traefik's internal default) means nothing can fall back to the
 * implicit `:8080` on all interfaces, and routers without `entryPoints` are never attached to it.
 */
export const ENTRY_POINT_PING = "traefik";
export const PING_ADDRESS = "127.0.0.1:8082";
export const PING_URL = `http://${PING_ADDRESS}/ping`;

export interface TraefikStaticConfigInput {
  environment: string;
  acmeEmail: string;
  /** ACME directory URL (already resolved from staging/production by the config module). */
  acmeCaUrl: string;
  routesDir: string;
}

/**
 * `/etc/traefik/traefik.yml`. Every string value is double-quoted, so an address like `:80` or an odd
 * e-mail address means the same to Traefik's YAML parser as to ours.
 */
export function renderTraefikStaticConfig(input: TraefikStaticConfigInput): string {
  const config = {
    global: { checkNewVersion: false, sendAnonymousUsage: false },
    log: { level: "INFO" },
    accessLog: { filePath: EDGE_PATHS.accessLog, format: "common" },
    entryPoints: {
      [ENTRY_POINT_HTTP]: {
        address: ":80",
        http: {
          redirections: {
            entryPoint: { to: ENTRY_POINT_HTTPS, scheme: "https", permanent: true },
          },
        },
      },
      [ENTRY_POINT_HTTPS]: { address: ":443" },
      [ENTRY_POINT_PING]: { address: PING_ADDRESS },
    },
    ping: { entryPoint: ENTRY_POINT_PING },
    providers: { file: { directory: input.routesDir, watch: true } },
    certificatesResolvers: {
      [CERT_RESOLVER]: {
        acme: {
          email: input.acmeEmail,
          storage: EDGE_PATHS.acmeStorage,
          caServer: input.acmeCaUrl,
          httpChallenge: { entryPoint: ENTRY_POINT_HTTP },
        },
      },
    },
  };
  const doc = new Document(config);
  doc.commentBefore =
    ` Traefik static configuration for the ${JSON.stringify(input.environment)} edge, managed by mynodeone.\n` +
    " Local edits are overwritten by the next `pulumi up`; a change here restarts Traefik.\n" +
    " Routes do not belong here: see docs/edge-contract.md.";
  return doc.toString({ lineWidth: 0, defaultStringType: "QUOTE_DOUBLE", defaultKeyType: "PLAIN" });
}

export interface TraefikUnitInput {
  binary: string;
  configFile: string;
  acmeDir: string;
  logDir: string;
}

/** The hardened systemd unit (Traefik's example unit plus the usual sandboxing). */
export function renderTraefikUnit(input: TraefikUnitInput): string {
  const paths: [string, string][] = [
    ["binary", input.binary],
    ["configFile", input.configFile],
    ["acmeDir", input.acmeDir],
    ["logDir", input.logDir],
  ];
  for (const [key, value] of paths) {
    // systemd splits these settings on whitespace and treats some characters specially: accept plain paths only.
    if (!/^\/[A-Za-z0-9._/-]+$/.test(value)) {
      throw new Error(
        `renderTraefikUnit: ${key} must be a plain absolute path, got ${JSON.stringify(value)}`,
      );
    }
  }
  return [
    "# Managed by mynodeone: local edits are overwritten by the next `pulumi up`.",
    "[Unit]",
    "Description=Traefik edge proxy",
    "Documentation=https://doc.traefik.io/traefik/",
    "Wants=network-online.target",
    "After=network-online.target",
    `AssertFileIsExecutable=${input.binary}`,
    `AssertPathExists=${input.configFile}`,
    "",
    "[Service]",
    // Traefik reports readiness (sd_notify) once its entry points listen.
    "Type=notify",
    `User=${TRAEFIK_USER}`,
    `Group=${TRAEFIK_USER}`,
    `ExecStart=${input.binary} --configFile=${input.configFile}`,
    "Restart=always",
    "RestartSec=5",
    "LimitNOFILE=1048576",
    // Not LimitNPROC=1: it counts threads and breaks Go's runtime. TasksMax bounds them instead.
    "TasksMax=4096",
    // Binding :80/:443 is the only privilege Traefik needs.
    "AmbientCapabilities=CAP_NET_BIND_SERVICE",
    "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
    "NoNewPrivileges=true",
    "ProtectSystem=strict",
    "ProtectHome=true",
    "PrivateTmp=true",
    "PrivateDevices=true",
    "ProtectKernelTunables=true",
    "ProtectKernelModules=true",
    "ProtectControlGroups=true",
    "RestrictSUIDSGID=true",
    "RestrictNamespaces=true",
    "LockPersonality=true",
    "SystemCallArchitectures=native",
    // Writable: the ACME storage (certificates, account key) and the access log; everything else is read-only.
    `ReadWritePaths=${input.acmeDir} ${input.logDir}`,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/**
 * authorized_keys for the route-sync user: every key is confined by `restrict` (no forwarding, no pty, no
 * ~/.ssh/rc) and a forced command. Input lines are `<type> <base64> [comment]` without options; anything
 * else is rejected, because an option smuggled in (e.g. `command=` or `permitopen=`) would lift the confinement.
 */
export function renderSyncAuthorizedKeys(keys: readonly string[], forcedCommand: string): string {
  if (!/^\/[A-Za-z0-9._/-]+$/.test(forcedCommand)) {
    throw new Error(`renderSyncAuthorizedKeys: invalid forced command ${JSON.stringify(forcedCommand)}`);
  }
  return keys
    .map((line, index) => {
      const match = /^(\S+) ([A-Za-z0-9+/]+={0,2})(?: (\P{Cc}*))?$/u.exec(line.trim());
      const [, type, blob, comment] = match ?? [];
      if (
        type === undefined ||
        blob === undefined ||
        !acceptsKeyType(AUTHORIZED_USER_KEY, type) ||
        keyBlobType(blob) !== type
      ) {
        throw new Error(
          `edge.syncAuthorizedKeys[${index}] is not a public key line "<type> <base64> [comment]" ` +
            `(options are not allowed; supported types: ${acceptedKeyTypes(AUTHORIZED_USER_KEY).join(", ")})`,
        );
      }
      const suffix = comment !== undefined && comment.trim() !== "" ? ` ${comment.trim()}` : "";
      return `restrict,command="${forcedCommand}" ${type} ${blob}${suffix}\n`;
    })
    .join("");
}
