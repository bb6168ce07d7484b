import { strict as assert } from "node:assert";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as command from "@pulumi/command";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import {
  CREATION_TIME_TOKEN,
  type CreateOnlyConfigMapState,
  EMPTY_REGISTRIES,
  kubeConnection,
  type KubeConnection,
  REGISTRY_CREATOR,
  type RegistryName,
  RuntimeRegistries,
  syncControllerRegistryJson,
} from "../components/registries";
import {
  installMocks,
  isSecretValue,
  metadataOf,
  plain,
  registeredUnder,
  resources,
  valueOf,
  type RecordedResource,
  type Registered,
} from "./mocks";
import { loadSerializedProvider } from "./harness/dynamic";
import { RUNTIME_REGISTRY_ENTRIES } from "./fixtures";

installMocks();

const DYNAMIC = "pulumi-nodejs:dynamic/registries:CreateOnlyConfigMap";
const CONFIGMAP = "kubernetes:core/v1:ConfigMap";
const TOKEN = "test-token-not-secret-elsewhere";

// ---------------------------------------------------------------------------------------------------------
// A fake Kubernetes API (ConfigMaps only) on 127.0.0.1, recording every request.

interface StoredConfigMap {
  metadata: { name: string; namespace: string; resourceVersion: string; managedFields?: unknown[] };
  data: Record<string, string>;
}

class FakeApi {
  readonly objects = new Map<string, StoredConfigMap>();
  readonly requests: { method: string; path: string }[] = [];
  /** Answer the next N requests with 503 (an API server still starting). */
  unavailable = 0;
  private server = http.createServer((req, res) => {
    this.handle(req, res);
  });
  private version = 100;

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }

  /** What the runtime does: read-modify-write of a whole JSON value (kubectl patch --type merge). */
  runtimeWrite(namespace: string, name: string, key: string, value: string): void {
    const object = this.objects.get(`${namespace}/${name}`);
    assert.ok(object, `${namespace}/${name} does not exist`);
    object.data[key] = value;
    object.metadata.resourceVersion = String(++this.version);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://fake");
      this.requests.push({ method: req.method ?? "", path: url.pathname + url.search });
      const send = (status: number, body: unknown): void => {
        res.writeHead(status, { "Content-Type": "application/json" });
        res.end(JSON.stringify(body));
      };
      const status = (code: number, reason: string, message: string): void => {
        send(code, { kind: "Status", apiVersion: "v1", status: "Failure", reason, message, code });
      };
      if (this.unavailable > 0) {
        this.unavailable--;
        status(503, "ServiceUnavailable", "the server is starting");
        return;
      }
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        status(401, "Unauthorized", "Unauthorized");
        return;
      }
      const match = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps(?:\/([^/]+))?$/.exec(url.pathname);
      if (!match) {
        status(404, "NotFound", "the server could not find the requested resource");
        return;
      }
      const namespace = decodeURIComponent(match[1] ?? "");
      const name = match[2] === undefined ? undefined : decodeURIComponent(match[2]);
      if (req.method === "POST" && name === undefined) {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
          metadata: { name: string; namespace: string };
          data: Record<string, string>;
        };
        const key = `${namespace}/${body.metadata.name}`;
        if (this.objects.has(key)) {
          status(409, "AlreadyExists", `configmaps "${body.metadata.name}" already exists`);
          return;
        }
        const created: StoredConfigMap = {
          metadata: { ...body.metadata, namespace, resourceVersion: String(++this.version) },
          data: body.data,
        };
        this.objects.set(key, created);
        send(201, created);
        return;
      }
      const key = `${namespace}/${name ?? ""}`;
      const object = this.objects.get(key);
      if (req.method === "GET" && name !== undefined) {
        if (object) {
          send(200, object);
        } else {
          status(404, "NotFound", `configmaps "${name}" not found`);
        }
        return;
      }
      if (req.method === "DELETE" && name !== undefined) {
        if (object) {
          this.objects.delete(key);
          send(200, { kind: "Status", status: "Success" });
        } else {
          status(404, "NotFound", `configmaps "${name}" not found`);
        }
        return;
      }
      status(405, "MethodNotAllowed", `${req.method ?? ""} is not supported by this fake`);
    });
  }
}

function kubeconfigFor(server: string, user: Record<string, unknown>): string {
  return YAML.stringify({
    apiVersion: "v1",
    kind: "Config",
    "current-context": "test",
    clusters: [{ name: "test-cluster", cluster: { server } }],
    users: [{ name: "test-user", user }],
    contexts: [{ name: "test", context: { cluster: "test-cluster", user: "test-user" } }],
  });
}

// ---------------------------------------------------------------------------------------------------------

describe("registries: contents (runtime contract)", () => {
  it("are the exact empty strings the runtime expects", () => {
    assert.deepEqual(Object.keys(EMPTY_REGISTRIES).sort(), [
      "domain-registry",
      "service-registry",
      "sync-controller-registry",
    ]);
    assert.equal(EMPTY_REGISTRIES["service-registry"]["services.json"], "{}");
    assert.equal(EMPTY_REGISTRIES["domain-registry"]["domains.json"], '{"domains":{},"vps_nodes":[]}');
    assert.equal(EMPTY_REGISTRIES["domain-registry"]["routing.json"], "{}");
    assert.deepEqual(Object.keys(EMPTY_REGISTRIES["service-registry"]), ["services.json"]);
    assert.deepEqual(Object.keys(EMPTY_REGISTRIES["domain-registry"]).sort(), [
      "domains.json",
      "routing.json",
    ]);
    const domains = JSON.parse(EMPTY_REGISTRIES["domain-registry"]["domains.json"]) as unknown;
    assert.deepEqual(domains, { domains: {}, vps_nodes: [] });
  });

  it("has all three node lists and the metadata block in registry.json", () => {
    const text = syncControllerRegistryJson("2026-01-02T03:04:05Z", "someone");
    assert.equal(
      text,
      '{"management_laptops":[],"vps_nodes":[],"worker_nodes":[],"metadata":{"version":"1.0","last_updated":"2026-01-02T03:04:05Z","updated_by":"someone"}}',
    );
    assert.equal(
      EMPTY_REGISTRIES["sync-controller-registry"]["registry.json"],
      syncControllerRegistryJson(CREATION_TIME_TOKEN, REGISTRY_CREATOR),
      "the creation time is filled in at creation, so the program's inputs never change",
    );
  });
});

describe("registries: kubeConnection", () => {
  it("reads the current context's server, CA and client certificate (k3s kubeconfig)", () => {
    const b64 = (s: string): string => Buffer.from(s).toString("base64");
    const kubeconfig = YAML.stringify({
      "current-context": "default",
      clusters: [
        { name: "other", cluster: { server: "https://10.0.0.1:6443" } },
        {
          name: "default",
          cluster: { server: "https://100.64.0.10:6443", "certificate-authority-data": b64("CA PEM") },
        },
      ],
      users: [
        {
          name: "default",
          user: { "client-certificate-data": b64("CERT PEM"), "client-key-data": b64("KEY PEM") },
        },
      ],
      contexts: [
        { name: "other", context: { cluster: "other", user: "default" } },
        { name: "default", context: { cluster: "default", user: "default" } },
      ],
    });
    assert.deepEqual(kubeConnection(kubeconfig), {
      server: "https://100.64.0.10:6443",
      caData: "CA PEM",
      certData: "CERT PEM",
      keyData: "KEY PEM",
    });
  });

  it("reads tokens, file references and TLS options", () => {
    const kubeconfig = YAML.stringify({
      clusters: [
        {
          name: "c",
          cluster: {
            server: "https://api.example.com",
            "certificate-authority": "/etc/ca.pem",
            "tls-server-name": "kubernetes",
            "insecure-skip-tls-verify": true,
          },
        },
      ],
      users: [{ name: "u", user: { token: "abc", tokenFile: "/run/token" } }],
      contexts: [{ name: "only", context: { cluster: "c", user: "u" } }],
    });
    assert.deepEqual(kubeConnection(kubeconfig), {
      server: "https://api.example.com",
      caFile: "/etc/ca.pem",
      token: "abc",
      tokenFile: "/run/token",
      insecureSkipTlsVerify: true,
      tlsServerName: "kubernetes",
    });
  });

  it("rejects exec plugins, missing contexts and garbage with a clear message", () => {
    assert.throws(
      () => kubeConnection(kubeconfigFor("https://x", { exec: { command: "aws" } })),
      /authenticates with 'exec'/,
    );
    assert.throws(() => kubeConnection("clusters: []\n"), /no current-context/);
    assert.throws(() => kubeConnection("{ not: [yaml"), /not valid YAML/);
    assert.throws(() => kubeConnection(kubeconfigFor("ftp://x", { token: "t" })), /no http\(s\) server URL/);
  });
});

describe("registries: RuntimeRegistries (mocked)", () => {
  const clusterInfo = {
    clusterName: "mynodeone-dev",
    clusterDomain: "dev.example.com",
    controlPlaneIp: "100.64.0.10",
    repoPath: "/opt/mynodeone",
  };

  type Built = Registered & { ready: RecordedResource };

  async function build(prefix: string, deleteOnDestroy: boolean): Promise<Built> {
    const provider = new k8s.Provider(`${prefix}-provider`, { kubeconfig: "{}" });
    const ready = new command.local.Command(`${prefix}-ready`, { create: "true" });
    const registries = new RuntimeRegistries(`${prefix}-reg`, {
      provider,
      kubeconfig: pulumi.secret(kubeconfigFor("https://100.64.0.10:6443", { token: TOKEN })),
      clusterInfo,
      registries: { deleteOnDestroy },
      clusterReady: [ready],
    });
    await valueOf(registries.origins);
    const registered = await registeredUnder(prefix);
    return { ...registered, ready: registered.one("command:local:Command") };
  }

  let built: Built;
  before(async () => {
    built = await build("regdefault", false);
  });

  it("declares the three registries in kube-system with their exact empty data", () => {
    const registries = built.of(DYNAMIC);
    assert.equal(registries.length, 3);
    for (const registry of registries) {
      const name = registry.inputs["name"] as string;
      assert.equal(registry.name, `regdefault-reg-${name}`);
      assert.equal(registry.inputs["namespace"], "kube-system");
      const data = registry.inputs["data"] as Record<string, string>;
      assert.deepEqual(data, EMPTY_REGISTRIES[name as RegistryName]);
      for (const value of Object.values(data)) {
        assert.equal(typeof value, "string");
        JSON.parse(value.replace(CREATION_TIME_TOKEN, "2026-01-01T00:00:00Z"));
      }
    }
  });

  it("gives the registries the options that make them create-only and outlive the stack", () => {
    for (const registry of built.of(DYNAMIC)) {
      assert.equal(registry.retainOnDelete, true, `${registry.name}: never deleted by destroy`);
      assert.equal(registry.inputs["deleteOnDestroy"], false);
      assert.ok(
        registry.ignoreChanges.includes("data"),
        `${registry.name}: data is never diffed after creation`,
      );
      assert.ok(registry.additionalSecretOutputs.includes("connection"));
      assert.ok(isSecretValue(registry.inputs["connection"]), "the connection carries credentials");
      assert.deepEqual(plain(registry.inputs["connection"]), {
        server: "https://100.64.0.10:6443",
        token: TOKEN,
      });
      assert.ok(registry.dependencies.includes(built.ready.urn), `${registry.name} waits for the cluster`);
      assert.equal(registry.provider, "", "not the Kubernetes provider: it never applies");
      assert.equal(typeof registry.inputs["__provider"], "string");
    }
  });

  it("deletes the registries on destroy only when deleteOnDestroy is set", async () => {
    const optIn = await build("regdelete", true);
    for (const registry of optIn.of(DYNAMIC)) {
      assert.equal(registry.retainOnDelete, false);
      assert.equal(registry.inputs["deleteOnDestroy"], true);
    }
  });

  it("owns cluster-info: a ConfigMap updated in place, with the four keys", () => {
    const info = built.one(CONFIGMAP);
    const metadata = metadataOf(info);
    assert.equal(metadata.name, "cluster-info");
    assert.equal(metadata.namespace, "kube-system");
    assert.equal(metadata.annotations?.["pulumi.com/patchForce"], "true");
    assert.deepEqual(info.inputs["data"], {
      "cluster-name": "mynodeone-dev",
      "cluster-domain": "dev.example.com",
      "control-plane-ip": "100.64.0.10",
      "repo-path": "/opt/mynodeone",
    });
    assert.equal(info.retainOnDelete, false);
    assert.deepEqual(info.ignoreChanges, []);
    assert.ok(info.provider.includes("regdefault-provider"));
    assert.ok(info.dependencies.includes(built.ready.urn));
  });
});

describe("registries: create-only provider against a fake Kubernetes API", function () {
  this.timeout(30_000);
  let api: FakeApi;
  let connection: KubeConnection;
  let provider: pulumi.dynamic.ResourceProvider<CreateOnlyConfigMapState>;

  const inputsFor = (name: RegistryName, deleteOnDestroy = false): CreateOnlyConfigMapState => ({
    connection,
    namespace: "kube-system",
    name,
    data: { ...EMPTY_REGISTRIES[name] },
    deleteOnDestroy,
  });

  before(() => {
    // The provider exactly as the program serializes it into the stack state (recorded by the mocks above).
    const recorded = resources().find((r) => r.type === DYNAMIC);
    assert.ok(recorded, "the mocked tests register the registries first");
    provider = loadSerializedProvider<CreateOnlyConfigMapState>(recorded.inputs["__provider"] as string);
  });

  beforeEach(async () => {
    api = new FakeApi();
    connection = kubeConnection(kubeconfigFor(await api.start(), { token: TOKEN }));
  });

  afterEach(() => api.stop());

  it("creates an absent registry with the exact data and the creation time in registry.json", async () => {
    const before = new Date(Math.floor(Date.now() / 1000) * 1000);
    const result = await provider.create(inputsFor("sync-controller-registry"));
    assert.equal(result.id, "kube-system/sync-controller-registry");
    assert.equal((result.outs as CreateOnlyConfigMapState).origin, "created");
    const stored = api.objects.get("kube-system/sync-controller-registry");
    assert.ok(stored);
    const createdAt = (result.outs as CreateOnlyConfigMapState).createdAt ?? "";
    assert.match(createdAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    assert.ok(new Date(createdAt) >= before);
    assert.deepEqual(stored.data, {
      "registry.json": syncControllerRegistryJson(createdAt, REGISTRY_CREATOR),
    });
    const parsed = JSON.parse(stored.data["registry.json"]) as Record<string, unknown>;
    assert.deepEqual(parsed["management_laptops"], []);
    assert.deepEqual(parsed["vps_nodes"], []);
    assert.deepEqual(parsed["worker_nodes"], []);
    assert.deepEqual(
      api.requests.map((r) => r.method),
      ["POST"],
    );
    assert.match(api.requests[0]?.path ?? "", /fieldManager=mynodeone-bootstrap/);

    await provider.create(inputsFor("domain-registry"));
    assert.equal(
      api.objects.get("kube-system/domain-registry")?.data["domains.json"],
      '{"domains":{},"vps_nodes":[]}',
    );
    assert.equal(api.objects.get("kube-system/domain-registry")?.data["routing.json"], "{}");
  });

  it("adopts a registry that exists (new stack, lost state) without touching its data or version", async () => {
    await provider.create(inputsFor("service-registry"));
    const populated = RUNTIME_REGISTRY_ENTRIES["service-registry"]?.["services.json"] ?? "";
    api.runtimeWrite("kube-system", "service-registry", "services.json", populated);
    const version = api.objects.get("kube-system/service-registry")?.metadata.resourceVersion;
    api.requests.length = 0;

    const result = await provider.create(inputsFor("service-registry"));
    assert.equal((result.outs as CreateOnlyConfigMapState).origin, "adopted");
    assert.equal((result.outs as CreateOnlyConfigMapState).createdAt, undefined);
    const stored = api.objects.get("kube-system/service-registry");
    assert.ok(stored);
    assert.equal(stored.data["services.json"], populated);
    assert.equal(stored.metadata.resourceVersion, version, "no write reached the object");
    assert.deepEqual(
      api.requests.map((r) => r.method),
      ["POST"],
      "only the rejected create, never PUT/PATCH",
    );
  });

  it("reports no change on a second up or a changed template, and never writes on update", async () => {
    const created = (await provider.create(inputsFor("service-registry"))).outs as CreateOnlyConfigMapState;
    api.runtimeWrite("kube-system", "service-registry", "services.json", '{"a":{"port":1}}');
    api.requests.length = 0;
    assert.ok(provider.diff && provider.update);

    const same = await provider.diff("kube-system/service-registry", created, inputsFor("service-registry"));
    assert.equal(same.changes, false);
    const otherTemplate = { ...inputsFor("service-registry"), data: { "services.json": '{"x":1}' } };
    assert.equal((await provider.diff("id", created, otherTemplate)).changes, false);

    const moved = { ...inputsFor("service-registry", true), connection: { ...connection, token: "rotated" } };
    const diff = await provider.diff("id", created, moved);
    assert.equal(diff.changes, true);
    assert.deepEqual(diff.replaces, []);
    const updated = await provider.update("id", created, moved);
    assert.equal((updated.outs as CreateOnlyConfigMapState).deleteOnDestroy, true);
    assert.equal((updated.outs as CreateOnlyConfigMapState).origin, "created");
    assert.deepEqual(api.requests, [], "diff and update never talk to the cluster");
    assert.equal(api.objects.get("kube-system/service-registry")?.data["services.json"], '{"a":{"port":1}}');

    const renamed = await provider.diff("id", created, { ...created, name: "other" });
    assert.deepEqual(renamed.replaces, ["name"]);
  });

  it("on a new API address, an update makes sure the registry exists there, writing nothing where it does", async () => {
    assert.ok(provider.update);
    const created = (await provider.create(inputsFor("service-registry"))).outs as CreateOnlyConfigMapState;
    // A rebuild onto new hosts: another API server, without the registry.
    const rebuilt = new FakeApi();
    try {
      const elsewhere = kubeConnection(kubeconfigFor(await rebuilt.start(), { token: TOKEN }));
      const moved = await provider.update("id", created, {
        ...inputsFor("service-registry"),
        connection: elsewhere,
      });
      const outs = moved.outs as CreateOnlyConfigMapState;
      assert.equal(outs.origin, "created");
      assert.deepEqual(outs.connection, elsewhere);
      assert.deepEqual(
        rebuilt.objects.get("kube-system/service-registry")?.data,
        EMPTY_REGISTRIES["service-registry"],
      );
      // Another name for the same API (or the runtime was first): the POST is refused, nothing is written.
      rebuilt.runtimeWrite("kube-system", "service-registry", "services.json", '{"a":{"port":1}}');
      const version = rebuilt.objects.get("kube-system/service-registry")?.metadata.resourceVersion;
      const again = await provider.update("id", outs, {
        ...inputsFor("service-registry"),
        connection: { ...elsewhere, server: elsewhere.server.replace("127.0.0.1", "localhost") },
      });
      assert.equal((again.outs as CreateOnlyConfigMapState).createdAt, outs.createdAt, "its history kept");
      assert.equal(rebuilt.objects.get("kube-system/service-registry")?.metadata.resourceVersion, version);
      assert.deepEqual(
        rebuilt.requests.map((r) => r.method),
        ["POST", "POST"],
      );
    } finally {
      await rebuilt.stop();
    }
  });

  it("keeps the registry on delete unless deleteOnDestroy, and then deletes it (twice is fine)", async () => {
    assert.ok(provider.delete);
    const kept = (await provider.create(inputsFor("domain-registry"))).outs as CreateOnlyConfigMapState;
    api.requests.length = 0;
    await provider.delete("kube-system/domain-registry", kept);
    assert.equal(api.requests.length, 0, "no request at all");
    assert.ok(api.objects.has("kube-system/domain-registry"));

    await provider.delete("kube-system/domain-registry", { ...kept, deleteOnDestroy: true });
    assert.ok(!api.objects.has("kube-system/domain-registry"));
    await provider.delete("kube-system/domain-registry", { ...kept, deleteOnDestroy: true });
    assert.deepEqual(
      api.requests.map((r) => r.method),
      ["DELETE", "DELETE"],
    );
  });

  it("drops a registry deleted out of band from the state on refresh, so the next up creates it", async () => {
    assert.ok(provider.read);
    const created = (await provider.create(inputsFor("service-registry"))).outs as CreateOnlyConfigMapState;
    assert.equal(
      (await provider.read("kube-system/service-registry", created)).id,
      "kube-system/service-registry",
    );
    api.objects.clear();
    assert.equal((await provider.read("kube-system/service-registry", created)).id, "");
  });

  it("retries while the API server is unavailable", async () => {
    api.unavailable = 1;
    const result = await provider.create(inputsFor("service-registry"));
    assert.equal((result.outs as CreateOnlyConfigMapState).origin, "created");
    assert.deepEqual(
      api.requests.map((r) => r.method),
      ["POST", "POST"],
    );
  });

  it("fails with the API's reason and without the credentials", async () => {
    connection = { ...connection, token: "wrong-token-value" };
    let error: Error | undefined;
    try {
      await provider.create(inputsFor("service-registry"));
    } catch (err) {
      error = err as Error;
    }
    assert.ok(error, "expected a failure");
    assert.match(
      error.message,
      /creating ConfigMap kube-system\/service-registry failed: HTTP 401 Unauthorized/,
    );
    assert.ok(!error.message.includes("wrong-token-value"));
    assert.equal(api.objects.size, 0);
  });
});
