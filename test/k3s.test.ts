import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import type { HostConfig } from "../components/config/host";
import type { K3sConfig } from "../components/k3s/config";
import type { SshConfig } from "../components/remote/config";
import {
  ClusterToken,
  INSTALL_SCRIPT,
  JOIN_TOKEN_SCRIPT,
  K3sCluster,
  PROGRAM_CREDENTIAL_SCRIPT,
  READ_SECRET_SCRIPT,
  REMOVE_NODE_SCRIPT,
  UNINSTALL_SCRIPT,
} from "../components/k3s";
import { GENERATE_TOKEN_COMMAND, KEEP_TOKEN_COMMAND } from "../components/k3s/token";
import {
  installMocks,
  isSecretValue,
  outputsFor,
  plain,
  registeredUnder,
  resourceNamed,
  resources,
  settle,
  valueOf,
  type RecordedResource,
} from "./mocks";
import { plan, remoteCommands, shortName, type DesiredResource } from "./e2e/engine-standin";
import { k3sKubeconfig, k3sTestConfig } from "./fixtures";

installMocks();

const REMOTE = "command:remote:Command";
const LOCAL = "command:local:Command";
const VERSION = "v1.35.6+k3s1";
const TOKEN = "c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";
const SECURE_TOKEN = `K10${"ab".repeat(32)}::server:${TOKEN}`;
const PRIVATE_KEY =
  "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAtest-only\n-----END OPENSSH PRIVATE KEY-----";
const CLIENT_KEY = "LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tY2xpZW50LWtleQ==";
const K3S_YAML = k3sKubeconfig(CLIENT_KEY);
// What /var/lib/rancher/k3s/server/cred/encryption-config.json looks like (the key is test-only).
const ENCRYPTION_KEY = "dGVzdC1vbmx5LWVuY3J5cHRpb24ta2V5LTMyLWJ5dGVzIQ==";
const ENCRYPTION_CONFIG = JSON.stringify({
  kind: "EncryptionConfiguration",
  apiVersion: "apiserver.config.k8s.io/v1",
  resources: [
    {
      resources: ["secrets"],
      providers: [{ aescbc: { keys: [{ name: "aescbckey", secret: ENCRYPTION_KEY }] } }, { identity: {} }],
    },
  ],
});
const SECRET_VALUES = [
  TOKEN,
  SECURE_TOKEN,
  PRIVATE_KEY,
  "b3BlbnNzaC1rZXktdjEAAAAAtest-only",
  CLIENT_KEY,
  ENCRYPTION_KEY,
];

const SSH: SshConfig = { user: "deploy", port: 22, privateKey: pulumi.secret(PRIVATE_KEY) };

function host(name: string, address: string): HostConfig {
  return { name, host: address, port: 22, user: "deploy", nodeIp: address, labels: {} };
}

const DEV = k3sTestConfig([host("dev-cp-1", "100.64.0.10")], []);
const PROD = k3sTestConfig(
  [host("prod-cp-1", "100.64.1.1"), host("prod-cp-2", "100.64.1.2"), host("prod-cp-3", "100.64.1.3")],
  [host("prod-worker-1", "100.64.1.11"), host("prod-worker-2", "100.64.1.12")],
  { uninstallOnDestroy: true, apiEndpoint: "api.example.com" },
);

interface Built {
  cluster: K3sCluster;
  /** Resources registered by this instance (children are named `<name>-...`). */
  own: RecordedResource[];
  node: (kind: string, nodeName: string) => RecordedResource;
}

async function build(name: string, k3s: K3sConfig, protect: boolean): Promise<Built> {
  const cluster = new K3sCluster(name, {
    k3s,
    ssh: SSH,
    token: pulumi.secret(TOKEN),
    clusterName: "mynodeone-test",
    protect,
  });
  await valueOf(cluster.kubeconfig);
  const own = (await registeredUnder(name)).all;
  return { cluster, own, node: (kind, nodeName) => resourceNamed(REMOTE, `${name}-${kind}-${nodeName}`) };
}

function str(value: unknown): string {
  const v = plain(value);
  return typeof v === "string" ? v : "";
}

function configOf(resource: RecordedResource): Record<string, unknown> {
  assert.ok(isSecretValue(resource.inputs["stdin"]), `${resource.name}: stdin must be secret`);
  return YAML.parse(str(resource.inputs["stdin"])) as Record<string, unknown>;
}

function assertSecretOutputs(resource: RecordedResource): void {
  for (const output of ["stdout", "stderr"]) {
    assert.ok(
      resource.additionalSecretOutputs.includes(output),
      `${resource.name}: ${output} must be secret`,
    );
  }
}

/** The remote script a command string runs (scriptCommand puts its name last). */
function scriptOf(command: string): string | undefined {
  return /'([a-z0-9-]+\.sh)'$/.exec(command)?.[1];
}

function scriptName(resource: RecordedResource, field: "create" | "delete"): string | undefined {
  return scriptOf(str(resource.inputs[field]));
}

/** The `KEY='value'` environment a command string sets before `bash -c` (scriptCommand's form). */
function envOf(command: string): Record<string, string> {
  const prefix = command.slice(0, command.indexOf(" bash -c "));
  return Object.fromEntries(
    [...prefix.matchAll(/ ([A-Z_][A-Z0-9_]*)='((?:[^']|'\\'')*)'/g)].map((m) => [
      m[1] ?? "",
      (m[2] ?? "").replaceAll("'\\''", "'"),
    ]),
  );
}

const SCRIPTS_DIR = path.join(__dirname, "..", "components", "k3s", "scripts");

/**
 * The install script's refuse_other_node (sourced, so its main does not run) with `env`, on a host whose
 * /etc/rancher/k3s/config.yaml is `config` (none when undefined). It must leave that file as it was.
 */
function refuseOtherNode(env: Record<string, string>, config: string | undefined) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "k3s-identity-test-"));
  try {
    const file = path.join(dir, "config.yaml");
    if (config !== undefined) fs.writeFileSync(file, config);
    const run = spawnSync(
      "bash",
      ["-c", 'source "$1"; refuse_other_node "$2"', "k3s-test", path.join(SCRIPTS_DIR, INSTALL_SCRIPT), file],
      { encoding: "utf8", env: { PATH: process.env["PATH"] ?? "", ...env } },
    );
    assert.equal(
      config === undefined ? undefined : fs.readFileSync(file, "utf8"),
      config,
      "config.yaml changed",
    );
    return run;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** What a delete would run: where (the connection in the state) and what (script, node it names). */
interface DeleteCommand {
  resource: string;
  host: string;
  script: string | undefined;
  node: string | undefined;
}

/** A stack's remote commands after an `up` of `k3s`, as the engine keeps them in the state. */
async function deployedCommands(name: string, k3s: K3sConfig): Promise<DesiredResource[]> {
  const start = resources().length;
  await build(name, k3s, false);
  return remoteCommands(resources().slice(start), () => true);
}

/**
 * `pulumi up` of `after` on a stack deployed with `before`, through the engine stand-in's diff: the deletes
 * that would run a command, each with its inputs from the state (the engine runs a deleted resource's delete
 * with its old inputs), and the commands the state holds afterwards, by name.
 */
async function redeploy(
  name: string,
  before: K3sConfig,
  after: K3sConfig,
): Promise<{
  deletes: DeleteCommand[];
  state: Map<string, DesiredResource>;
  next: Map<string, DesiredResource>;
}> {
  const deployed = await deployedCommands(name, before);
  const desired = await deployedCommands(name, after);
  const old = new Map(deployed.map((r) => [r.urn, r]));
  const deletes = plan(desired, { resources: deployed.map((r) => ({ ...r, stdout: "", stderr: "" })) })
    .filter((step) => step.op === "delete")
    .map((step) => old.get(step.urn))
    .filter((r): r is DesiredResource => r?.inputs.delete !== undefined)
    .map((r) => ({
      resource: shortName(r.urn),
      host: r.inputs.connection.host,
      script: scriptOf(r.inputs.delete ?? ""),
      node: envOf(r.inputs.delete ?? "")["NODE_NAME"],
    }));
  const byName = (list: DesiredResource[]) => new Map(list.map((r) => [shortName(r.urn), r]));
  return { deletes, state: byName(deployed), next: byName(desired) };
}

/** Node -> the host its drain (k3s-remove-node.sh) would run on, for every node whose state has one. */
function drainHosts(commands: Map<string, DesiredResource>): Record<string, string> {
  return Object.fromEntries(
    [...commands.values()]
      .filter((r) => scriptOf(r.inputs.delete ?? "") === REMOVE_NODE_SCRIPT)
      .map((r) => [envOf(r.inputs.delete ?? "")["NODE_NAME"] ?? "", r.inputs.connection.host]),
  );
}

describe("K3sCluster", () => {
  let previousOutputs: ReturnType<typeof outputsFor.get>;
  let dev: Built;
  let prod: Built;

  before(async () => {
    // The fetch commands' stdout, as the first server would print it; everything else defers to any other fake.
    previousOutputs = outputsFor.get(REMOTE);
    outputsFor.set(REMOTE, (args) => {
      const create = str((args.inputs as Record<string, unknown>)["create"]);
      if (create.endsWith(` '${PROGRAM_CREDENTIAL_SCRIPT}'`)) return { stdout: K3S_YAML };
      if (create.endsWith(` '${READ_SECRET_SCRIPT}'`)) return { stdout: ENCRYPTION_CONFIG };
      if (create.endsWith(` '${JOIN_TOKEN_SCRIPT}'`)) return { stdout: SECURE_TOKEN };
      return previousOutputs?.(args);
    });
    dev = await build("k3s-dev-test", DEV, false);
    prod = await build("k3s-prod-test", PROD, true);
  });

  after(() => {
    if (previousOutputs) outputsFor.set(REMOTE, previousOutputs);
    else outputsFor.delete(REMOTE);
  });

  describe("dev-like cluster (one server)", () => {
    it("installs the pinned version as a server through sudo, with config.yaml on stdin", () => {
      const install = dev.node("server", "dev-cp-1");
      const create = str(install.inputs["create"]);
      assert.ok(create.startsWith("sudo -n env "), create.slice(0, 40));
      assert.ok(create.includes(`INSTALL_K3S_VERSION='${VERSION}'`));
      assert.ok(create.includes("INSTALL_K3S_EXEC='server'"));
      assert.ok(create.includes("INSTALL_SCRIPT_URL='https://get.k3s.io'"));
      assert.ok(create.includes("INSTALL_SCRIPT_SHA256=''"));
      assert.ok(create.includes("READY_TIMEOUT_SECONDS='300'"));
      assert.equal(scriptName(install, "create"), INSTALL_SCRIPT);
      const config = configOf(install);
      assert.equal(config["cluster-init"], true);
      assert.equal(config["token"], TOKEN);
      assert.equal(config["node-name"], "dev-cp-1");
    });

    it("needs no join token and exposes names, endpoint and secret outputs", async () => {
      assert.equal(
        dev.own.some((r) => r.name.endsWith("-join-token")),
        false,
      );
      assert.deepEqual(dev.cluster.nodeNames, ["dev-cp-1"]);
      assert.equal(dev.cluster.apiEndpoint, "https://100.64.0.10:6443");
      assert.equal(await pulumi.isSecret(dev.cluster.kubeconfig), true);
      assert.equal(await pulumi.isSecret(dev.cluster.token), true);
      assert.equal(await valueOf(dev.cluster.token), TOKEN);
      assert.equal(dev.cluster.readyResources.length, 1);
    });

    it("neither uninstalls nor drains on delete, and is not protected", () => {
      const install = dev.node("server", "dev-cp-1");
      assert.equal(install.inputs["delete"], undefined);
      assert.equal(install.protect, false);
      const removes = dev.own.filter((r) => r.name.includes("-remove-"));
      assert.deepEqual(
        removes.map((r) => [r.name, r.inputs["create"], r.inputs["delete"]]),
        [["k3s-dev-test-remove-dev-cp-1", undefined, undefined]],
      );
    });
  });

  describe("prod-like cluster (3 servers, 2 agents)", () => {
    const urn = (kind: string, nodeName: string): string => prod.node(kind, nodeName).urn;

    it("joins servers one at a time: each depends on the previous one being ready", () => {
      assert.ok(prod.node("server", "prod-cp-2").dependencies.includes(urn("server", "prod-cp-1")));
      assert.ok(prod.node("server", "prod-cp-3").dependencies.includes(urn("server", "prod-cp-2")));
      assert.equal(prod.node("server", "prod-cp-2").dependencies.includes(urn("server", "prod-cp-3")), false);
    });

    it("joins agents after the last server, in parallel", () => {
      for (const agent of ["prod-worker-1", "prod-worker-2"]) {
        const deps = prod.node("agent", agent).dependencies;
        assert.ok(deps.includes(urn("server", "prod-cp-3")), agent);
        assert.ok(deps.includes(urn("remove", "prod-cp-3")), agent);
      }
      assert.equal(
        prod.node("agent", "prod-worker-1").dependencies.includes(urn("agent", "prod-worker-2")),
        false,
      );
      assert.equal(
        prod.node("agent", "prod-worker-2").dependencies.includes(urn("agent", "prod-worker-1")),
        false,
      );
    });

    it("gives joiners the secure token read from the first server, kept secret", () => {
      const fetch = resourceNamed(REMOTE, "k3s-prod-test-join-token");
      assert.equal(scriptName(fetch, "create"), JOIN_TOKEN_SCRIPT);
      assert.equal(fetch.inputs["logging"], "none");
      assertSecretOutputs(fetch);
      assert.ok(isSecretValue(fetch.inputs["stdin"]));
      assert.ok(fetch.dependencies.includes(urn("server", "prod-cp-1")));
      for (const [kind, nodeName] of [
        ["server", "prod-cp-2"],
        ["server", "prod-cp-3"],
        ["agent", "prod-worker-1"],
      ] as const) {
        const config = configOf(prod.node(kind, nodeName));
        assert.equal(config["token"], SECURE_TOKEN, nodeName);
        assert.equal(config["server"], "https://100.64.1.1:6443", nodeName);
        assert.equal(config["cluster-init"], undefined, nodeName);
      }
      assert.equal(configOf(prod.node("server", "prod-cp-1"))["token"], TOKEN);
    });

    it("installs agents as agents with the same pinned version", () => {
      const create = str(prod.node("agent", "prod-worker-2").inputs["create"]);
      assert.ok(create.includes("INSTALL_K3S_EXEC='agent'"));
      assert.ok(create.includes(`INSTALL_K3S_VERSION='${VERSION}'`));
      assert.deepEqual(prod.cluster.nodeNames, [
        "prod-cp-1",
        "prod-cp-2",
        "prod-cp-3",
        "prod-worker-1",
        "prod-worker-2",
      ]);
      assert.equal(prod.cluster.readyResources.length, 5);
    });

    it("updates installs in place on a version or config change (nothing that replaces them)", () => {
      for (const install of prod.own.filter((r) => /-(server|agent)-/.test(r.name))) {
        assert.equal(install.inputs["triggers"], undefined, install.name);
        // The SDK marks only triggers as replacing; this component sets none on installs.
        assert.deepEqual(install.replaceOnChanges, ["triggers[*]"], install.name);
        // No `update` command: the provider re-runs `create`, the idempotent install script.
        assert.equal(install.inputs["update"], undefined, install.name);
      }
    });

    it("protects the first server's install only", () => {
      assert.equal(prod.node("server", "prod-cp-1").protect, true);
      for (const other of ["server:prod-cp-2", "server:prod-cp-3", "agent:prod-worker-1"]) {
        const [kind = "", nodeName = ""] = other.split(":");
        assert.equal(prod.node(kind, nodeName).protect, false, other);
      }
    });

    it("uninstalls on delete (uninstallOnDestroy), with deleteBeforeReplace, after draining from another server", () => {
      for (const [kind, nodeName, role] of [
        ["server", "prod-cp-1", "server"],
        ["server", "prod-cp-3", "server"],
        ["agent", "prod-worker-1", "agent"],
      ] as const) {
        const install = prod.node(kind, nodeName);
        assert.equal(scriptName(install, "delete"), UNINSTALL_SCRIPT, nodeName);
        assert.ok(str(install.inputs["delete"]).includes(`NODE_ROLE='${role}'`), nodeName);
        assert.equal(install.deleteBeforeReplace, true, nodeName);
        assert.equal(install.retainOnDelete, false, nodeName);
      }
      // Every node is drained through the first other server: servers[0] through servers[1].
      for (const [nodeName, drainHost] of [
        ["prod-cp-1", "100.64.1.2"],
        ["prod-cp-2", "100.64.1.1"],
        ["prod-cp-3", "100.64.1.1"],
        ["prod-worker-1", "100.64.1.1"],
        ["prod-worker-2", "100.64.1.1"],
      ] as const) {
        const remove = prod.node("remove", nodeName);
        const kind = nodeName.startsWith("prod-cp") ? "server" : "agent";
        assert.equal(remove.inputs["create"], undefined, nodeName);
        assert.equal(scriptName(remove, "delete"), REMOVE_NODE_SCRIPT, nodeName);
        assert.ok(str(remove.inputs["delete"]).includes(`NODE_NAME='${nodeName}'`), nodeName);
        // Deleted (drain + delete node) before the node's own install is deleted.
        const connection = plain(remove.inputs["connection"]) as Record<string, unknown>;
        assert.equal(plain(connection["host"]), drainHost, nodeName);
        assert.ok(remove.dependencies.includes(urn(kind, nodeName)), nodeName);
      }
      // ... and before the server it runs on is uninstalled.
      assert.ok(prod.node("remove", "prod-cp-1").dependencies.includes(urn("server", "prod-cp-2")));
    });

    it("keeps a lone server's drain command without a delete: there is no other server to drain it through", async () => {
      const { node } = await build("k3s-lone-test", { ...DEV, uninstallOnDestroy: true }, false);
      const remove = node("remove", "dev-cp-1");
      assert.equal(remove.inputs["delete"], undefined);
      assert.equal(remove.inputs["create"], undefined);
    });

    it("orders destroy as agents, then extra servers in reverse, then the first server", () => {
      // A resource is deleted before everything it depends on.
      assert.ok(prod.node("server", "prod-cp-3").dependencies.includes(urn("remove", "prod-cp-2")));
      assert.ok(prod.node("remove", "prod-cp-3").dependencies.includes(urn("server", "prod-cp-3")));
      assert.ok(prod.node("agent", "prod-worker-1").dependencies.includes(urn("remove", "prod-cp-3")));
      // Of the last two servers, servers[1] is drained (through servers[0]) before servers[0] (through servers[1]).
      assert.ok(prod.node("remove", "prod-cp-2").dependencies.includes(urn("remove", "prod-cp-1")));
    });

    it("reads the kubeconfig after every node is ready, secretly, and re-reads it when the first server is reinstalled", async () => {
      const fetch = resourceNamed(REMOTE, "k3s-prod-test-kubeconfig");
      assert.equal(scriptName(fetch, "create"), PROGRAM_CREDENTIAL_SCRIPT);
      assert.equal(fetch.inputs["logging"], "none");
      assertSecretOutputs(fetch);
      for (const install of prod.cluster.readyResources) {
        assert.ok(fetch.dependencies.includes(await valueOf(install.urn)));
      }
      const triggers = plain(fetch.inputs["triggers"]) as unknown[];
      assert.equal(triggers.length, 1);
      assert.match(String(plain(triggers[0])), /^k3s-prod-test-server-prod-cp-1-id-/);

      assert.equal(await pulumi.isSecret(prod.cluster.kubeconfig), true);
      const kubeconfig = YAML.parse(await valueOf(prod.cluster.kubeconfig)) as {
        clusters: { name: string; cluster: { server: string } }[];
        "current-context": string;
      };
      assert.equal(kubeconfig.clusters[0]?.cluster.server, "https://api.example.com:6443");
      assert.equal(kubeconfig.clusters[0].name, "mynodeone-test");
      assert.equal(kubeconfig["current-context"], "mynodeone-test");
      assert.equal(prod.cluster.apiEndpoint, "https://api.example.com:6443");
    });

    it("exports the at-rest encryption config from the first server as a secret, for backups", async () => {
      const fetch = resourceNamed(REMOTE, "k3s-prod-test-encryption-config");
      assert.equal(scriptName(fetch, "create"), READ_SECRET_SCRIPT);
      assert.match(str(fetch.inputs["create"]), / WHAT='encryption-config' /);
      assert.equal(fetch.inputs["logging"], "none");
      assertSecretOutputs(fetch);
      assert.ok(fetch.dependencies.includes(urn("server", "prod-cp-1")));
      assert.equal(await pulumi.isSecret(prod.cluster.encryptionConfig), true);
      assert.equal(await valueOf(prod.cluster.encryptionConfig), ENCRYPTION_CONFIG);
    });
  });

  it("is deterministic: two instances of the same config differ only in their names", async () => {
    const a = await build("k3s-det-a", PROD, true);
    const b = await build("k3s-det-b", PROD, true);
    const normalise = (r: RecordedResource, name: string): string =>
      JSON.stringify({
        name: r.name,
        inputs: r.inputs,
        dependencies: r.dependencies,
        protect: r.protect,
        deleteBeforeReplace: r.deleteBeforeReplace,
        retainOnDelete: r.retainOnDelete,
      })
        .replaceAll(name, "<name>")
        .replace(/-id-\d+/g, "-id-<n>");
    assert.equal(a.own.length, b.own.length);
    // 5 installs, 5 drains (one per node), join token, kubeconfig, encryption config.
    assert.equal(a.own.length, 13);
    a.own.forEach((r, i) => {
      const other = b.own[i];
      assert.ok(other);
      assert.equal(normalise(r, "k3s-det-a"), normalise(other, "k3s-det-b"));
    });
  });

  it("skips delete commands of unreachable nodes (retainOnDelete)", async () => {
    const { node } = await build(
      "k3s-unreachable-test",
      { ...PROD, unreachableNodes: ["prod-worker-2", "prod-cp-1"] },
      false,
    );
    assert.equal(node("agent", "prod-worker-2").retainOnDelete, true);
    assert.equal(node("server", "prod-cp-1").retainOnDelete, true);
    assert.equal(node("agent", "prod-worker-1").retainOnDelete, false);
    // Drains run on the first server, which is unreachable here.
    assert.equal(node("remove", "prod-worker-1").retainOnDelete, true);
  });

  it("passes a configured installer checksum to the install script", async () => {
    const sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const { node } = await build("k3s-sha-test", { ...DEV, installScriptSha256: sha }, false);
    assert.ok(str(node("server", "dev-cp-1").inputs["create"]).includes(`INSTALL_SCRIPT_SHA256='${sha}'`));
  });

  describe("promotion and renaming with uninstallOnDestroy (engine stand-in diff)", () => {
    const [cp1, cp2, cp3] = [
      host("prod-cp-1", "100.64.1.1"),
      host("prod-cp-2", "100.64.1.2"),
      host("prod-cp-3", "100.64.1.3"),
    ] as const;
    const worker = host("prod-worker-1", "100.64.1.11");
    const cluster = (servers: HostConfig[], agents: HostConfig[] = [worker]): K3sConfig =>
      k3sTestConfig(servers, agents, { uninstallOnDestroy: true });
    /** `redeploy` of `after` on the stack these tests start from: three servers and the worker. */
    const redeployFromThreeServers = (name: string, after: K3sConfig) =>
      redeploy(name, cluster([cp1, cp2, cp3]), after);

    it("promoting a live server to servers[0] drains, deletes and uninstalls nothing, and drains go through the new first server", async () => {
      const { deletes, next } = await redeployFromThreeServers("k3s-promote", cluster([cp2, cp1, cp3]));
      assert.deepEqual(deletes, []);
      // What a later removal or destroy would run: every node drained through a server of the new config, not itself.
      assert.deepEqual(drainHosts(next), {
        "prod-cp-1": "100.64.1.2",
        "prod-cp-2": "100.64.1.1",
        "prod-cp-3": "100.64.1.2",
        "prod-worker-1": "100.64.1.2",
      });
    });

    it("promoting a survivor when servers[0]'s host is lost (same name, new host) runs nothing on the dead host", async () => {
      const replacement = host("prod-cp-1", "100.64.1.4");
      const { deletes, next } = await redeployFromThreeServers(
        "k3s-promote-lost",
        cluster([cp2, replacement, cp3]),
      );
      assert.deepEqual(
        deletes,
        [],
        "no delete runs: none could reach the dead host, none may drain a kept node",
      );
      const onDeadHost = [...next.values()].filter((r) => r.inputs.connection.host === "100.64.1.1");
      assert.deepEqual(
        onDeadHost.map((r) => shortName(r.urn)),
        [],
      );
    });

    it("removing servers[0] while promoting another drains it through a server that stays, then uninstalls only it", async () => {
      const cp4 = host("prod-cp-4", "100.64.1.4");
      const { deletes, state } = await redeployFromThreeServers(
        "k3s-promote-remove",
        cluster([cp2, cp3, cp4]),
      );
      assert.deepEqual(
        [...deletes].sort((a, b) => a.resource.localeCompare(b.resource)),
        [
          {
            resource: "k3s-promote-remove-remove-prod-cp-1",
            host: "100.64.1.2",
            script: REMOVE_NODE_SCRIPT,
            node: "prod-cp-1",
          },
          {
            resource: "k3s-promote-remove-server-prod-cp-1",
            host: "100.64.1.1",
            script: UNINSTALL_SCRIPT,
            node: undefined,
          },
        ],
      );
      // The drain runs first: it depends on the install, and a resource is deleted before what it depends on.
      assert.ok(
        state
          .get("k3s-promote-remove-remove-prod-cp-1")
          ?.dependencies.includes(state.get("k3s-promote-remove-server-prod-cp-1")?.urn ?? "-"),
      );
    });

    it("shrinking to one server drains and uninstalls the servers that go, never the one that stays", async () => {
      const { deletes } = await redeploy("k3s-shrink", cluster([cp1, cp2, cp3], []), cluster([cp1], []));
      assert.deepEqual(deletes.map((d) => [d.script, d.node ?? d.host]).sort(), [
        [REMOVE_NODE_SCRIPT, "prod-cp-2"],
        [REMOVE_NODE_SCRIPT, "prod-cp-3"],
        [UNINSTALL_SCRIPT, "100.64.1.2"],
        [UNINSTALL_SCRIPT, "100.64.1.3"],
      ]);
    });

    it("turning uninstallOnDestroy off drains, deletes and uninstalls nothing", async () => {
      const { deletes, next } = await redeployFromThreeServers("k3s-toggle", {
        ...cluster([cp1, cp2, cp3]),
        uninstallOnDestroy: false,
      });
      assert.deepEqual(deletes, []);
      assert.deepEqual(drainHosts(next), {});
    });

    for (const [role, before, after, oldNode, newNode] of [
      [
        "agent",
        cluster([cp1], [worker]),
        cluster([cp1], [host("prod-worker-9", worker.host)]),
        "prod-worker-1",
        "prod-worker-9",
      ],
      [
        "server",
        cluster([cp1, cp2, cp3], []),
        cluster([cp1, cp2, host("prod-cp-9", cp3.host)], []),
        "prod-cp-3",
        "prod-cp-9",
      ],
    ] as const) {
      it(`renaming ${role === "agent" ? "an agent" : "a server"} on the same host: the new install refuses that host before the old node's delete could uninstall it`, async () => {
        const name = `k3s-rename-${role}`;
        const { deletes, state, next } = await redeploy(name, before, after);
        // The hazard: the old node's delete, with its old inputs, would uninstall the host the new name runs on.
        const uninstalls = deletes.filter((d) => d.script === UNINSTALL_SCRIPT);
        assert.deepEqual(
          uninstalls.map((d) => d.host),
          [role === "agent" ? worker.host : cp3.host],
        );
        // The engine deletes only after every create and update succeeded. The new node's install, on that host,
        // finds the config.yaml the old node's install wrote there and refuses before changing anything.
        const install = next.get(`${name}-${role}-${newNode}`);
        const written = state.get(`${name}-${role}-${oldNode}`)?.inputs.stdin;
        assert.ok(install?.inputs.create !== undefined && written !== undefined);
        const check = refuseOtherNode(envOf(install.inputs.create), written);
        assert.notEqual(check.status, 0, check.stdout);
        assert.match(check.stderr, new RegExp(`this host already runs k3s as node ${oldNode}`));
        assert.match(check.stderr, new RegExp(`remove ${oldNode} .* then add ${newNode}`));
      });
    }
  });

  it("rejects duplicate node names and an empty server list", () => {
    assert.throws(
      () =>
        new K3sCluster("k3s-dup-test", {
          k3s: k3sTestConfig([host("a", "10.0.0.1")], [host("a", "10.0.0.2")]),
          ssh: SSH,
          token: TOKEN,
          clusterName: "c",
          protect: false,
        }),
      /unique/,
    );
    assert.throws(
      () =>
        new K3sCluster("k3s-empty-test", {
          k3s: k3sTestConfig([], []),
          ssh: SSH,
          token: TOKEN,
          clusterName: "c",
          protect: false,
        }),
      /servers is empty/,
    );
  });
});

describe("ClusterToken", () => {
  it("generates a token once, in a local command whose output is secret and never logged", async () => {
    const generated = new ClusterToken("k3s-token-gen-test", { protect: true });
    assert.equal(await pulumi.isSecret(generated.token), true);
    await settle();
    const cmd = resourceNamed(LOCAL, "k3s-token-gen-test-generate");
    assert.equal(cmd.inputs["create"], GENERATE_TOKEN_COMMAND);
    assert.equal(cmd.inputs["update"], KEEP_TOKEN_COMMAND);
    assert.equal(cmd.inputs["logging"], "none");
    assertSecretOutputs(cmd);
    assert.equal(cmd.protect, true);
  });

  it("uses a configured token as a secret without generating one", async () => {
    const given = new ClusterToken("k3s-token-given-test", {
      token: "configured-token-value",
      protect: false,
    });
    assert.equal(await pulumi.isSecret(given.token), true);
    assert.equal(await valueOf(given.token), "configured-token-value");
    assert.deepEqual((await registeredUnder("k3s-token-given-test")).all, []);
  });

  it("create prints 64 fresh hex digits; update re-emits the stored token and refuses to make a new one", () => {
    const sh = (cmd: string, env: Record<string, string> = {}) =>
      spawnSync("/bin/sh", ["-c", cmd], {
        encoding: "utf8",
        env: { PATH: process.env["PATH"] ?? "", ...env },
      });
    const one = sh(GENERATE_TOKEN_COMMAND);
    const two = sh(GENERATE_TOKEN_COMMAND);
    assert.equal(one.status, 0, one.stderr);
    assert.match(one.stdout, /^[0-9a-f]{64}$/);
    assert.notEqual(one.stdout, two.stdout);
    const kept = sh(KEEP_TOKEN_COMMAND, { PULUMI_COMMAND_STDOUT: one.stdout });
    assert.equal(kept.status, 0, kept.stderr);
    assert.equal(kept.stdout, one.stdout);
    const lost = sh(KEEP_TOKEN_COMMAND);
    assert.notEqual(lost.status, 0);
    assert.equal(lost.stdout, "");
    assert.match(lost.stderr, /refusing to generate a new one/);
  });
});

// After the K3sCluster and ClusterToken suites, so it sees every command they registered.
describe("k3s secrets", () => {
  it("never puts a secret into a command string, environment or trigger", () => {
    const commands = resources().filter((r) => r.type === REMOTE || r.type === LOCAL);
    assert.ok(commands.some((r) => r.type === LOCAL));
    assert.ok(commands.length >= 30);
    for (const resource of commands) {
      for (const field of ["create", "update", "delete", "environment", "triggers"]) {
        const text = JSON.stringify(resource.inputs[field] ?? "");
        for (const secret of SECRET_VALUES) {
          assert.equal(text.includes(secret), false, `${resource.name}.${field} contains a secret`);
        }
      }
    }
  });

  it("keeps every stdin that carries a secret marked secret", () => {
    // Every stdin of the k3s component carries the token or reads a secret (other components' tests share
    // this process; their stdin, e.g. Traefik's static config, is not secret).
    const withStdin = resources().filter(
      (r) =>
        r.type === REMOTE && r.urn.includes("mynodeone:k3s:K3sCluster$") && r.inputs["stdin"] !== undefined,
    );
    assert.ok(withStdin.length >= 7);
    for (const resource of withStdin) {
      assert.ok(isSecretValue(resource.inputs["stdin"]), resource.name);
    }
  });
});

(process.platform === "linux" ? describe : describe.skip)("k3s remote scripts (run locally)", () => {
  const scriptsDir = SCRIPTS_DIR;
  const installScript = path.join(scriptsDir, INSTALL_SCRIPT);
  let dir: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "k3s-script-test-"));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Source the install script (its main does not run when sourced) and run `snippet` with `args`. */
  function lib(snippet: string, args: string[], input = "") {
    return spawnSync("bash", ["-c", `source "$1"; shift; ${snippet}`, "k3s-test", installScript, ...args], {
      input,
      encoding: "utf8",
    });
  }

  function write(target: string, content: string) {
    return lib('write_if_changed "$1"; echo "$FILE_CHANGED"', [target], content);
  }

  it("are bash with strict mode and parse", () => {
    const scripts = fs.readdirSync(scriptsDir).filter((f) => f.endsWith(".sh"));
    assert.deepEqual(
      scripts.sort(),
      [
        INSTALL_SCRIPT,
        JOIN_TOKEN_SCRIPT,
        PROGRAM_CREDENTIAL_SCRIPT,
        READ_SECRET_SCRIPT,
        REMOVE_NODE_SCRIPT,
        UNINSTALL_SCRIPT,
      ].sort(),
    );
    for (const script of scripts) {
      const file = path.join(scriptsDir, script);
      assert.match(
        fs.readFileSync(file, "utf8"),
        /^#!\/usr\/bin\/env bash\n[\s\S]*^set -euo pipefail$/m,
        script,
      );
      const parsed = spawnSync("bash", ["-n", file], { encoding: "utf8" });
      assert.equal(parsed.status, 0, `${script}: ${parsed.stderr}`);
    }
  });

  it("writes config.yaml atomically with mode 0600, creating the directory", () => {
    const target = path.join(dir, "etc", "rancher", "k3s", "config.yaml");
    const result = write(target, "token: a\n");
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), "true");
    assert.equal(fs.readFileSync(target, "utf8"), "token: a\n");
    assert.equal(fs.statSync(target).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(path.dirname(target)), ["config.yaml"]);
  });

  it("leaves an identical config untouched (no rewrite, so no restart)", () => {
    const target = path.join(dir, "config.yaml");
    assert.equal(write(target, "token: a\n").stdout.trim(), "true");
    const before = fs.statSync(target);
    const again = write(target, "token: a\n");
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout.trim(), "false");
    const after = fs.statSync(target);
    assert.equal(after.ino, before.ino);
    assert.equal(after.mtimeMs, before.mtimeMs);
    assert.deepEqual(fs.readdirSync(dir), ["config.yaml"]);
  });

  it("replaces a changed config and repairs a wrong mode without reporting a change", () => {
    const target = path.join(dir, "config.yaml");
    write(target, "token: a\n");
    const changed = write(target, "token: b\n");
    assert.equal(changed.stdout.trim(), "true");
    assert.equal(fs.readFileSync(target, "utf8"), "token: b\n");
    fs.chmodSync(target, 0o644);
    const repaired = write(target, "token: b\n");
    assert.equal(repaired.stdout.trim(), "false");
    assert.equal(fs.statSync(target).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(dir), ["config.yaml"]);
  });

  it("refuses an empty config and keeps the old one", () => {
    const target = path.join(dir, "config.yaml");
    write(target, "token: a\n");
    const empty = write(target, "");
    assert.notEqual(empty.status, 0);
    assert.match(empty.stderr, /no content for .*config\.yaml on stdin/);
    assert.equal(fs.readFileSync(target, "utf8"), "token: a\n");
    assert.deepEqual(fs.readdirSync(dir), ["config.yaml"]);
  });

  it("runs the installer only when its sha256 matches", () => {
    const file = path.join(dir, "install.sh");
    fs.writeFileSync(file, "echo installer\n");
    const sha = spawnSync("sha256sum", [file], { encoding: "utf8" }).stdout.split(" ")[0] ?? "";
    const env = 'INSTALL_SCRIPT_URL=https://mirror.example/install.sh; verify_sha256 "$1" "$2"';
    assert.equal(lib(env, [file, sha]).status, 0);
    assert.equal(lib(env, [file, sha.toUpperCase()]).status, 0);
    const bad = lib(env, [file, "0".repeat(64)]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /has sha256 [0-9a-f]{64}, expected 0{64}: refusing to run it/);
  });

  it("refuses, with uninstallOnDestroy, a host whose k3s runs another node, and names the safe sequence", () => {
    const config = (nodeName: string): string => `token: "x"\nnode-name: "${nodeName}"\n`;
    const renamed = refuseOtherNode({ NODE_NAME: "cp-new", UNINSTALL_ON_DESTROY: "true" }, config("cp-old"));
    assert.equal(renamed.status, 1);
    assert.match(renamed.stderr, /this host already runs k3s as node cp-old/);
    assert.match(renamed.stderr, /remove cp-old .* then add cp-new/);
    for (const [existing, env] of [
      [config("cp-1"), { NODE_NAME: "cp-1", UNINSTALL_ON_DESTROY: "true" }],
      [undefined, { NODE_NAME: "cp-1", UNINSTALL_ON_DESTROY: "true" }],
      ["token: x\n", { NODE_NAME: "cp-1", UNINSTALL_ON_DESTROY: "true" }],
      [config("cp-old"), { NODE_NAME: "cp-new", UNINSTALL_ON_DESTROY: "false" }],
    ] as const) {
      const run = refuseOtherNode(env, existing);
      assert.equal(run.status, 0, `${JSON.stringify([existing, env])}: ${run.stderr}`);
    }
  });

  it("rejects bad inputs before touching the host", () => {
    const valid = {
      INSTALL_K3S_EXEC: "server",
      INSTALL_K3S_VERSION: VERSION,
      INSTALL_SCRIPT_URL: "https://get.k3s.io",
      INSTALL_SCRIPT_SHA256: "",
      NODE_NAME: "cp-1",
      READY_TIMEOUT_SECONDS: "300",
    };
    const cases: [Partial<typeof valid>, RegExp][] = [
      [{ INSTALL_K3S_EXEC: "server --token x" }, /INSTALL_K3S_EXEC must be server or agent/],
      [{ INSTALL_K3S_VERSION: "latest" }, /INSTALL_K3S_VERSION must be a pinned release/],
      [{ INSTALL_SCRIPT_URL: "" }, /INSTALL_SCRIPT_URL is empty/],
      [{ INSTALL_SCRIPT_SHA256: "abc" }, /INSTALL_SCRIPT_SHA256 must be 64 hex digits/],
      [{ NODE_NAME: "Bad_Name" }, /NODE_NAME must be a DNS-1123 label/],
      [{ READY_TIMEOUT_SECONDS: "0" }, /READY_TIMEOUT_SECONDS must be a positive integer/],
    ];
    for (const [override, expected] of cases) {
      const run = spawnSync("bash", [installScript], {
        encoding: "utf8",
        input: "token: x\n",
        env: { PATH: process.env["PATH"] ?? "", ...valid, ...override },
      });
      assert.equal(run.status, 1, JSON.stringify(override));
      assert.match(run.stderr, expected);
    }
    // Sourced, not run: a value the validation let through must not go on to install anything here.
    const flag = spawnSync("bash", ["-c", 'source "$1"; validate_inputs', "k3s-test", installScript], {
      encoding: "utf8",
      env: { PATH: process.env["PATH"] ?? "", ...valid, UNINSTALL_ON_DESTROY: "yes" },
    });
    assert.equal(flag.status, 1);
    assert.match(flag.stderr, /UNINSTALL_ON_DESTROY must be true or false/);
    const uninstall = spawnSync("bash", [path.join(scriptsDir, UNINSTALL_SCRIPT)], {
      encoding: "utf8",
      env: { PATH: process.env["PATH"] ?? "", NODE_ROLE: "master" },
    });
    assert.equal(uninstall.status, 1);
    assert.match(uninstall.stderr, /NODE_ROLE must be server or agent/);
    const remove = spawnSync("bash", [path.join(scriptsDir, REMOVE_NODE_SCRIPT)], {
      encoding: "utf8",
      env: { PATH: process.env["PATH"] ?? "", NODE_NAME: "x;rm", DRAIN_TIMEOUT_SECONDS: "60" },
    });
    assert.equal(remove.status, 1);
    assert.match(remove.stderr, /NODE_NAME must be a DNS-1123 label/);
  });
});
