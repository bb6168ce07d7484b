// One edge host (VPS): Traefik from the pinned, checksum-verified release binary under a hardened systemd
// unit, a firewall, and the SSH identity the runtime's route pusher writes route files with.
// The contract for the route pusher is docs/edge-contract.md. Edge hosts do not depend on the cluster:
// they provision in parallel with it.
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import type { SshConfig } from "../remote/config";
import { readScript, remoteCommandBase, scriptCommand } from "../remote/ssh";
import type { EdgeConfig, EdgeHostConfig } from "./config";
import {
  EDGE_PATHS,
  PING_URL,
  SYNC_USER,
  TRAEFIK_USER,
  renderSyncAuthorizedKeys,
  renderTraefikStaticConfig,
  renderTraefikUnit,
} from "./render";

export interface EdgeHostArgs {
  host: EdgeHostConfig;
  edge: EdgeConfig;
  ssh: SshConfig;
  /** Environment name (dev, prod); named in the static config's header. */
  environment: string;
  /** Protect the Traefik install (its destroy takes the environment's ingress down). */
  protect: boolean;
}

export class EdgeHost extends pulumi.ComponentResource {
  /** Address used to reach the host over SSH. */
  public readonly address: pulumi.Output<string>;
  /** Installed Traefik release (known once the install succeeded). */
  public readonly traefikVersion: pulumi.Output<string>;
  /** Directory the route pusher writes `<service>.yml` files to. */
  public readonly routesDir: pulumi.Output<string>;
  /** SSH user of the route pusher. */
  public readonly syncUser: pulumi.Output<string>;
  /** Public address clients reach: `publicIp`, else `externalIp`, else the SSH address. */
  public readonly publicIp: pulumi.Output<string>;

  constructor(name: string, args: EdgeHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mynodeone:edge:EdgeHost", name, {}, opts);
    const { host, edge, ssh } = args;
    const base = remoteCommandBase(host, ssh);
    const script = (file: string): string => readScript(__dirname, file);
    const asRoot = (file: string, env: Record<string, string | number | boolean>): string =>
      scriptCommand(file, script(file), env, host.user);
    const fetchTraefikScript = script("fetch-traefik.sh");

    const preflight = new command.remote.Command(
      `${name}-preflight`,
      {
        ...base,
        // Runs as the login user, not through `sudo -n` (scriptCommand adds no sudo for "root"), so that it
        // can report a missing passwordless sudo itself instead of failing with sudo's terse message.
        create: scriptCommand(
          "preflight.sh",
          script("preflight.sh"),
          {
            TRAEFIK_VERSION: edge.traefikVersion,
            MIN_FREE_DISK_MB: edge.minFreeDiskMb,
            TRAEFIK_BIN_DIR: EDGE_PATHS.binDir,
            FETCH_TRAEFIK_SCRIPT: fetchTraefikScript,
          },
          "root",
        ),
      },
      { parent: this },
    );

    new command.remote.Command(
      `${name}-firewall`,
      {
        ...base,
        // Disabled (edge.firewall false) removes the table, so turning the option off takes effect.
        create: asRoot("firewall.sh", {
          FIREWALL_ENABLED: edge.firewall,
          SSH_PORT: host.port,
          SSH_ALLOW_FROM: edge.sshAllowFrom ?? "",
        }),
        delete: asRoot("firewall.sh", { FIREWALL_ENABLED: false }),
      },
      { parent: this, dependsOn: [preflight] },
    );

    const pathsEnv = {
      TRAEFIK_BIN_DIR: EDGE_PATHS.binDir,
      TRAEFIK_CONFIG_FILE: EDGE_PATHS.configFile,
      ACME_STORAGE: EDGE_PATHS.acmeStorage,
      LOG_DIR: EDGE_PATHS.logDir,
      ROUTES_DIR: edge.routesDir,
    };
    const traefik = new command.remote.Command(
      `${name}-traefik`,
      {
        ...base,
        // No triggers: a version, unit or config change is an in-place update (the script re-runs and
        // restarts Traefik only for what really changed on the host).
        create: asRoot("install-traefik.sh", {
          ...pathsEnv,
          TRAEFIK_VERSION: edge.traefikVersion,
          TRAEFIK_DOWNLOAD_BASE_URL: edge.downloadBaseUrl,
          TRAEFIK_SHA256_PINS: Object.entries(edge.traefikSha256)
            .map(([arch, sha]) => `${arch}=${sha}`)
            .join(","),
          FETCH_TRAEFIK_SCRIPT: fetchTraefikScript,
          TRAEFIK_UNIT: renderTraefikUnit({
            binary: EDGE_PATHS.binary,
            configFile: EDGE_PATHS.configFile,
            acmeDir: EDGE_PATHS.acmeDir,
            logDir: EDGE_PATHS.logDir,
          }),
          TRAEFIK_USER,
          SYNC_USER,
          SYNC_HOME: EDGE_PATHS.syncHome,
        }),
        // The static config travels on stdin: no shell ever parses the e-mail address or the paths in it.
        stdin: renderTraefikStaticConfig({
          environment: args.environment,
          acmeEmail: edge.acmeEmail,
          acmeCaUrl: edge.acmeCaUrl,
          routesDir: edge.routesDir,
        }),
        delete: asRoot("remove-traefik.sh", pathsEnv),
      },
      { parent: this, dependsOn: [preflight], protect: args.protect },
    );

    const syncEnv = {
      SYNC_USER,
      SYNC_HOME: EDGE_PATHS.syncHome,
      ROUTE_SYNC_COMMAND: EDGE_PATHS.routeSyncCommand,
    };
    new command.remote.Command(
      `${name}-route-sync`,
      {
        ...base,
        create: asRoot("route-sync-access.sh", {
          ...syncEnv,
          ACTION: "grant",
          ROUTE_SYNC_SCRIPT: script("route-sync.sh"),
          ROUTES_DIR: edge.routesDir,
          PING_URL,
        }),
        stdin: renderSyncAuthorizedKeys(edge.syncAuthorizedKeys, EDGE_PATHS.routeSyncCommand),
        delete: asRoot("route-sync-access.sh", { ...syncEnv, ACTION: "revoke" }),
      },
      { parent: this, dependsOn: [traefik] },
    );

    // Derived from the install so that they resolve only once Traefik is really there.
    const installed = <T>(value: T): pulumi.Output<T> => traefik.id.apply(() => value);
    this.address = installed(host.host);
    this.traefikVersion = installed(edge.traefikVersion);
    this.routesDir = installed(edge.routesDir);
    this.syncUser = installed(SYNC_USER);
    this.publicIp = installed(host.publicIp ?? host.externalIp ?? host.host);

    this.registerOutputs({
      address: this.address,
      traefikVersion: this.traefikVersion,
      routesDir: this.routesDir,
      syncUser: this.syncUser,
      publicIp: this.publicIp,
    });
  }
}
