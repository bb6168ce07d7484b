// k3s over SSH: one install command per node (it waits until its node is Ready), servers joined one at a time,
// agents in parallel after them, and the kubeconfig read back from the first server.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import type { HostConfig } from "../config/host";
import type { SshConfig } from "../remote/config";
import { readScript, remoteCommandBase, scriptCommand } from "../remote/ssh";
import type { K3sConfig } from "./config";
import { apiServerUrl, nodeAddress, renderK3sConfig, rewriteKubeconfig, type K3sNodeRole } from "./render";

export { ClusterToken, type ClusterTokenArgs } from "./token";
export { apiServerUrl, renderK3sConfig, rewriteKubeconfig, urlHost, type K3sNodeRole } from "./render";

export const INSTALL_SCRIPT = "k3s-install.sh";
export const UNINSTALL_SCRIPT = "k3s-uninstall.sh";
export const REMOVE_NODE_SCRIPT = "k3s-remove-node.sh";
export const READ_SECRET_SCRIPT = "k3s-read-secret.sh";
export const PROGRAM_CREDENTIAL_SCRIPT = "k3s-program-credential.sh";
export const JOIN_TOKEN_SCRIPT = "k3s-join-token.sh";

const SECRET_OUTPUTS = ["stdout", "stderr"];

export interface K3sClusterArgs {
  k3s: K3sConfig;
  ssh: SshConfig;
  /** Cluster token (secret): configured, or from `ClusterToken`. Never changes for an existing cluster. */
  token: pulumi.Input<string>;
  /** Name of the cluster, user and context in the kubeconfig. */
  clusterName: string;
  /** Protect the first server's install (production): deleting it would uninstall the cluster's datastore. */
  protect: boolean;
}

/**
 * A k3s cluster installed over SSH on `k3s.servers` (embedded etcd; the first one initialises it) and
 * `k3s.agents`.
 *
 * Order: first server, then each further server after the previous one is Ready (parallel etcd joins fail),
 * then all agents in parallel. Updates (a version bump, a config change) follow the same order, one server at a
 * time; destroy runs in reverse. Nothing is uninstalled unless `k3s.uninstallOnDestroy` is set.
 *
 * A host that can no longer be reached blocks every command that must connect to it, including deletes
 * (SSH cannot dial, so no script can help). List it in `k3s.unreachableNodes` and run `pulumi up` so its
 * delete commands are skipped, or drop its resources from state: `pulumi state delete '<urn>'` for each
 * resource named `<cluster>-*-<node>` (see `pulumi stack --show-urns`).
 */
export class K3sCluster extends pulumi.ComponentResource {
  /** Admin kubeconfig (secret) pointing at `apiEndpoint`. It resolves once every node is Ready. */
  public readonly kubeconfig: pulumi.Output<string>;
  /** `https://<k3s.apiEndpoint>:6443`. */
  public readonly apiEndpoint: string;
  /** Kubernetes node names: servers first, then agents. */
  public readonly nodeNames: string[];
  /** The cluster token (secret), for backups and etcd snapshot restores. */
  public readonly token: pulumi.Output<string>;
  /** k3s's at-rest encryption config from the first server (secret), for backups. */
  public readonly encryptionConfig: pulumi.Output<string>;
  /** One install command per node; each completes only when its node is Ready. Depend on these for "cluster up". */
  public readonly readyResources: pulumi.Resource[];

  constructor(name: string, args: K3sClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mynodeone:k3s:K3sCluster", name, {}, opts);
    const { k3s, ssh } = args;
    const [first, ...joiningServers] = k3s.servers;
    if (first === undefined) {
      throw new Error("K3sCluster: k3s.servers is empty");
    }
    const nodes = [...k3s.servers, ...k3s.agents];
    const names = nodes.map((host) => host.name);
    if (new Set(names).size !== names.length) {
      throw new Error(`K3sCluster: node names must be unique: ${names.join(", ")}`);
    }
    this.nodeNames = names;
    this.apiEndpoint = apiServerUrl(k3s.apiEndpoint);
    this.token = pulumi.secret(args.token);

    const scripts = {
      install: readScript(__dirname, INSTALL_SCRIPT),
      uninstall: readScript(__dirname, UNINSTALL_SCRIPT),
      removeNode: readScript(__dirname, REMOVE_NODE_SCRIPT),
      readSecret: readScript(__dirname, READ_SECRET_SCRIPT),
      programCredential: readScript(__dirname, PROGRAM_CREDENTIAL_SCRIPT),
      joinToken: readScript(__dirname, JOIN_TOKEN_SCRIPT),
    };
    const unreachable = new Set(k3s.unreachableNodes);
    const onFirstServer = remoteCommandBase(first, ssh);
    const firstServerUrl = apiServerUrl(nodeAddress(first));

    /** The install command of one node; it completes when the node is Ready. */
    const installNode = (
      host: HostConfig,
      role: K3sNodeRole,
      token: pulumi.Input<string>,
      dependsOn: pulumi.Resource[],
    ): command.remote.Command => {
      const installerRole = role.kind === "agent" ? "agent" : "server";
      return new command.remote.Command(
        `${name}-${installerRole}-${host.name}`,
        {
          ...remoteCommandBase(host, ssh),
          create: scriptCommand(
            INSTALL_SCRIPT,
            scripts.install,
            {
              INSTALL_K3S_EXEC: installerRole,
              INSTALL_K3S_VERSION: k3s.version,
              INSTALL_SCRIPT_URL: k3s.installScriptUrl,
              INSTALL_SCRIPT_SHA256: k3s.installScriptSha256 ?? "",
              NODE_NAME: host.name,
              READY_TIMEOUT_SECONDS: k3s.readyTimeoutSeconds,
              // The script then refuses a host whose k3s runs another node (a rename in place): that node's
              // delete, run after this install with its old inputs, would uninstall the host.
              UNINSTALL_ON_DESTROY: k3s.uninstallOnDestroy,
            },
            host.user,
          ),
          // The token reaches the host only inside config.yaml, on stdin.
          stdin: pulumi.secret(pulumi.output(token).apply((t) => renderK3sConfig(k3s, host, role, t))),
          ...(k3s.uninstallOnDestroy
            ? {
                delete: scriptCommand(
                  UNINSTALL_SCRIPT,
                  scripts.uninstall,
                  { NODE_ROLE: installerRole },
                  host.user,
                ),
              }
            : {}),
        },
        {
          parent: this,
          dependsOn,
          // A replacement must not install next to the old node and then have the old delete uninstall it.
          deleteBeforeReplace: true,
          protect: role.kind === "first-server" && args.protect,
          retainOnDelete: unreachable.has(host.name),
        },
      );
    };

    /**
     * The command whose delete (with uninstallOnDestroy) drains `host` and deletes its Node object, which also
     * removes a server's etcd member. It runs on the first other server in `k3s.servers`. Every node has one,
     * named after the node only, whatever the settings: promoting a server, reordering the list or turning
     * uninstallOnDestroy on or off just updates it (an update runs nothing: there is no create), so a delete
     * here always means that the node itself left the configuration, and it runs through a server that was
     * kept when the node was last deployed. A lone server has nobody to drain it through: its command has no
     * delete, so shrinking to one server updates it instead of draining the server that stays.
     */
    const removeNode = (host: HostConfig, dependsOn: pulumi.Resource[]): command.remote.Command => {
      const drainServer = k3s.servers.find((server) => server.name !== host.name);
      return new command.remote.Command(
        `${name}-remove-${host.name}`,
        {
          ...remoteCommandBase(drainServer ?? host, ssh),
          ...(k3s.uninstallOnDestroy && drainServer !== undefined
            ? {
                delete: scriptCommand(
                  REMOVE_NODE_SCRIPT,
                  scripts.removeNode,
                  { NODE_NAME: host.name, DRAIN_TIMEOUT_SECONDS: k3s.readyTimeoutSeconds },
                  drainServer.user,
                ),
              }
            : {}),
        },
        {
          parent: this,
          dependsOn,
          retainOnDelete: drainServer !== undefined && unreachable.has(drainServer.name),
        },
      );
    };

    // Each node depends on the previous node's link of the chain (install and drain), so on destroy a node is
    // drained, then uninstalled, before the node it joined through, in reverse order. servers[0] is drained
    // through servers[1], so its drain belongs to servers[1]'s link (it depends on that install), after
    // servers[1]'s own drain (through servers[0]) on destroy.
    const firstInstall = installNode(first, { kind: "first-server" }, args.token, []);
    const installs: command.remote.Command[] = [firstInstall];
    const serverChain: pulumi.Resource[] = [firstInstall];
    if (joiningServers.length === 0) {
      serverChain.push(removeNode(first, [firstInstall]));
    }
    if (nodes.length > 1) {
      // Joining nodes use the secure token form (K10<CA hash>::server:<token>) from the first server, so they
      // verify the cluster CA before sending credentials. It is as secret as the token: logging off, outputs
      // secret, passed on only inside config.yaml on stdin. Re-read whenever the first server is reinstalled
      // (new CA).
      const joinTokenFetch = new command.remote.Command(
        `${name}-join-token`,
        {
          ...onFirstServer,
          create: scriptCommand(JOIN_TOKEN_SCRIPT, scripts.joinToken, {}, first.user),
          stdin: pulumi.secret(args.token),
          logging: "none",
          triggers: [firstInstall.id],
        },
        { parent: this, dependsOn: [firstInstall], additionalSecretOutputs: SECRET_OUTPUTS },
      );
      const joinToken = pulumi.secret(joinTokenFetch.stdout);
      const joinRole = { serverUrl: firstServerUrl };

      let previous = [...serverChain];
      for (const host of joiningServers) {
        const install = installNode(host, { kind: "joining-server", ...joinRole }, joinToken, previous);
        installs.push(install);
        const link: pulumi.Resource[] = [install];
        if (host === joiningServers[0]) {
          link.push(removeNode(first, [firstInstall, install]));
        }
        link.push(removeNode(host, [...link]));
        serverChain.push(...link);
        previous = link;
      }
      for (const host of k3s.agents) {
        const install = installNode(host, { kind: "agent", ...joinRole }, joinToken, serverChain);
        installs.push(install);
        removeNode(host, [install]);
      }
    }
    this.readyResources = installs;

    // The program's own credential, a ServiceAccount token that does not expire (the admin kubeconfig's client
    // certificate would, after 365 days: see the script). Read after every node is Ready, so the kubeconfig
    // output also means "cluster up". A reinstall of the first server makes a new CA: the id trigger re-reads it.
    const kubeconfigFetch = new command.remote.Command(
      `${name}-kubeconfig`,
      {
        ...onFirstServer,
        create: scriptCommand(PROGRAM_CREDENTIAL_SCRIPT, scripts.programCredential, {}, first.user),
        logging: "none",
        triggers: [firstInstall.id],
      },
      { parent: this, dependsOn: installs, additionalSecretOutputs: SECRET_OUTPUTS },
    );
    this.kubeconfig = pulumi.secret(
      kubeconfigFetch.stdout.apply((raw) => rewriteKubeconfig(raw, k3s.apiEndpoint, args.clusterName)),
    );

    // The at-rest encryption keys k3s generated at the first start (secrets-encryption): exported (secret) so a
    // backup can restore an etcd snapshot's Secrets. Re-read when the first server is reinstalled.
    const encryptionConfigFetch = new command.remote.Command(
      `${name}-encryption-config`,
      {
        ...onFirstServer,
        create: scriptCommand(
          READ_SECRET_SCRIPT,
          scripts.readSecret,
          { WHAT: "encryption-config" },
          first.user,
        ),
        logging: "none",
        triggers: [firstInstall.id],
      },
      { parent: this, dependsOn: [firstInstall], additionalSecretOutputs: SECRET_OUTPUTS },
    );
    this.encryptionConfig = pulumi.secret(encryptionConfigFetch.stdout);

    this.registerOutputs({
      kubeconfig: this.kubeconfig,
      encryptionConfig: this.encryptionConfig,
      apiEndpoint: this.apiEndpoint,
      nodeNames: this.nodeNames,
      token: this.token,
    });
  }
}
