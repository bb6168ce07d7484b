import { strict as assert } from "node:assert";
import * as YAML from "yaml";
import type { HostConfig } from "../components/config/host";
import { apiServerUrl, renderK3sConfig, rewriteKubeconfig, urlHost } from "../components/k3s/render";
import { k3sKubeconfig, k3sTestConfig } from "./fixtures";

const TOKEN = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

function host(name: string, address: string, extra: Partial<HostConfig> = {}): HostConfig {
  return { name, host: address, port: 22, user: "root", labels: {}, ...extra };
}

function parse(text: string): Record<string, unknown> {
  return YAML.parse(text) as Record<string, unknown>;
}

describe("k3s render: renderK3sConfig", () => {
  const dev = host("dev-cp-1", "203.0.113.5", { nodeIp: "100.64.0.10", labels: { zone: "home" } });
  const devK3s = k3sTestConfig([dev]);

  it("renders the first server of a one-server (dev) cluster completely, in a fixed key order", () => {
    const config = parse(renderK3sConfig(devK3s, dev, { kind: "first-server" }, TOKEN));
    assert.deepEqual(Object.keys(config), [
      "cluster-init",
      "token",
      "node-name",
      "node-ip",
      "node-label",
      "flannel-iface",
      "tls-san",
      "disable",
      "secrets-encryption",
      "write-kubeconfig-mode",
      "etcd-snapshot-schedule-cron",
      "etcd-snapshot-retention",
    ]);
    assert.deepEqual(config, {
      "cluster-init": true,
      token: TOKEN,
      "node-name": "dev-cp-1",
      "node-ip": "100.64.0.10",
      "node-label": ["zone=home"],
      "flannel-iface": "tailscale0",
      "tls-san": ["100.64.0.10", "api.example.com", "203.0.113.5"],
      disable: ["servicelb", "traefik"],
      "secrets-encryption": true,
      "write-kubeconfig-mode": "0600",
      "etcd-snapshot-schedule-cron": "0 */6 * * *",
      "etcd-snapshot-retention": 20,
    });
  });

  it("keeps the kubeconfig mode a quoted string (an unquoted 0600 would be read as a number)", () => {
    const text = renderK3sConfig(devK3s, dev, { kind: "first-server" }, TOKEN);
    assert.match(text, /^write-kubeconfig-mode: "0600"$/m);
  });

  describe("prod-like cluster (3 servers, 2 agents)", () => {
    const servers = [
      host("prod-cp-1", "100.64.1.1", { nodeIp: "100.64.1.1", externalIp: "198.51.100.1" }),
      host("prod-cp-2", "100.64.1.2", { nodeIp: "100.64.1.2" }),
      host("prod-cp-3", "100.64.1.3", { nodeIp: "100.64.1.3" }),
    ];
    const agents = [
      host("prod-worker-1", "100.64.1.11", { labels: { role: "worker", disk: "ssd" } }),
      host("prod-worker-2", "100.64.1.12"),
    ];
    const prod = k3sTestConfig(servers, agents, {
      apiEndpoint: "api.example.com",
      tlsSans: ["api.example.com"],
    });
    const join = { serverUrl: "https://100.64.1.1:6443" };
    const [s1, s2, s3] = servers.map((s, i) =>
      parse(
        renderK3sConfig(
          prod,
          s,
          i === 0 ? { kind: "first-server" } : { kind: "joining-server", ...join },
          TOKEN,
        ),
      ),
    );
    const [a1, a2] = agents.map((a) => parse(renderK3sConfig(prod, a, { kind: "agent", ...join }, TOKEN)));

    it("initialises etcd on the first server only; the others join it", () => {
      assert.equal(s1?.["cluster-init"], true);
      assert.equal(s1["server"], undefined);
      for (const joiner of [s2, s3, a1, a2]) {
        assert.equal(joiner?.["cluster-init"], undefined);
        assert.equal(joiner?.["server"], "https://100.64.1.1:6443");
      }
    });

    it("gives every server identical cluster-wide settings", () => {
      const clusterWide = [
        "disable",
        "secrets-encryption",
        "write-kubeconfig-mode",
        "etcd-snapshot-schedule-cron",
        "etcd-snapshot-retention",
        "flannel-iface",
        "token",
      ];
      for (const key of clusterWide) {
        assert.notEqual(s1?.[key], undefined, key);
        assert.deepEqual(s2?.[key], s1?.[key], key);
        assert.deepEqual(s3?.[key], s1?.[key], key);
      }
    });

    it("puts the API endpoint and the server's own addresses in tls-san, without duplicates", () => {
      assert.deepEqual(s1?.["tls-san"], ["api.example.com", "100.64.1.1", "198.51.100.1"]);
      assert.deepEqual(s2?.["tls-san"], ["api.example.com", "100.64.1.2"]);
      assert.equal(s1["node-external-ip"], "198.51.100.1");
    });

    it("gives agents only agent settings, with labels sorted by key", () => {
      for (const key of [
        "tls-san",
        "disable",
        "secrets-encryption",
        "write-kubeconfig-mode",
        "etcd-snapshot-retention",
      ]) {
        assert.equal(a1?.[key], undefined, key);
      }
      assert.deepEqual(a1?.["node-label"], ["disk=ssd", "role=worker"]);
      assert.equal(a2?.["node-label"], undefined);
      assert.equal(a1["node-name"], "prod-worker-1");
      assert.equal(a1["flannel-iface"], "tailscale0");
    });
  });

  it("is deterministic: same config, same bytes, whatever the order of labels and disabled components", () => {
    const a = host("n1", "10.0.0.1", { labels: { b: "2", a: "1" } });
    const b = host("n1", "10.0.0.1", { labels: { a: "1", b: "2" } });
    const role = { kind: "first-server" } as const;
    const one = renderK3sConfig(
      k3sTestConfig([a], [], { disable: ["traefik", "servicelb"] }),
      a,
      role,
      TOKEN,
    );
    const two = renderK3sConfig(
      k3sTestConfig([b], [], { disable: ["servicelb", "traefik", "traefik"] }),
      b,
      role,
      TOKEN,
    );
    assert.equal(one, two);
  });

  it("leaves out optional settings that are not configured", () => {
    const bare = host("n1", "10.0.0.1");
    const config = parse(
      renderK3sConfig(
        k3sTestConfig([bare], [], { flannelIface: undefined, disable: [] }),
        bare,
        { kind: "first-server" },
        TOKEN,
      ),
    );
    for (const key of ["node-ip", "node-external-ip", "node-label", "flannel-iface", "disable"]) {
      assert.equal(key in config, false, key);
    }
  });

  it("quotes every string, so names like `no` stay strings for k3s's YAML 1.1 parser", () => {
    const no = host("no", "10.0.0.1", { labels: { on: "yes" } });
    const text = renderK3sConfig(k3sTestConfig([no]), no, { kind: "first-server" }, TOKEN);
    assert.match(text, /^node-name: "no"$/m);
    assert.match(text, /^ {2}- "on=yes"$/m);
  });

  it("rejects an empty token (k3s would silently make up its own)", () => {
    assert.throws(() => renderK3sConfig(devK3s, dev, { kind: "first-server" }, " "), /token is empty/);
  });
});

describe("k3s render: API URLs", () => {
  it("brackets IPv6 literals and leaves IPv4 and DNS names as they are", () => {
    assert.equal(apiServerUrl("100.64.0.10"), "https://100.64.0.10:6443");
    assert.equal(apiServerUrl("fd7a:115c:a1e0::1"), "https://[fd7a:115c:a1e0::1]:6443");
    assert.equal(apiServerUrl("api.example.com"), "https://api.example.com:6443");
  });

  it("rejects addresses with a scheme, port, brackets or spaces", () => {
    for (const bad of [
      "https://api.example.com",
      "api.example.com:6443",
      "[::1]",
      "a b",
      "",
      "-x.example.com",
    ]) {
      assert.throws(() => urlHost(bad), /not an IP address or DNS name/, bad);
    }
  });
});

describe("k3s render: rewriteKubeconfig", () => {
  const CLIENT_KEY = "LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tc2VjcmV0";
  const k3sYaml = k3sKubeconfig(CLIENT_KEY);

  interface Kubeconfig {
    clusters: { name: string; cluster: { server: string; "certificate-authority-data": string } }[];
    contexts: { name: string; context: { cluster: string; user: string } }[];
    users: { name: string; user: Record<string, string> }[];
    "current-context": string;
  }

  function rewrite(endpoint: string, name = "mynodeone-prod"): Kubeconfig {
    return YAML.parse(rewriteKubeconfig(k3sYaml, endpoint, name)) as Kubeconfig;
  }

  it("points the cluster at the API endpoint (IPv4) and renames cluster, user and context", () => {
    const config = rewrite("100.64.1.1");
    assert.equal(config.clusters[0]?.cluster.server, "https://100.64.1.1:6443");
    assert.equal(config.clusters[0].name, "mynodeone-prod");
    assert.equal(config.users[0]?.name, "mynodeone-prod");
    assert.deepEqual(config.contexts, [
      { name: "mynodeone-prod", context: { cluster: "mynodeone-prod", user: "mynodeone-prod" } },
    ]);
    assert.equal(config["current-context"], "mynodeone-prod");
  });

  it("brackets an IPv6 endpoint and accepts a DNS name", () => {
    assert.equal(
      rewrite("fd7a:115c:a1e0::1").clusters[0]?.cluster.server,
      "https://[fd7a:115c:a1e0::1]:6443",
    );
    assert.equal(rewrite("api.example.com").clusters[0]?.cluster.server, "https://api.example.com:6443");
  });

  it("keeps the CA and the client credentials unchanged", () => {
    const config = rewrite("100.64.1.1");
    assert.equal(config.clusters[0]?.cluster["certificate-authority-data"], "Q0EtREFUQQ==");
    assert.deepEqual(config.users[0]?.user, {
      "client-certificate-data": "Q0VSVA==",
      "client-key-data": CLIENT_KEY,
    });
  });

  it("rejects input that is not a single-cluster kubeconfig, without quoting it", () => {
    const twoClusters = k3sYaml.replace(
      "contexts:",
      "- cluster:\n    certificate-authority-data: eA==\n    server: https://x:6443\n  name: other\ncontexts:",
    );
    const cases: [string, RegExp][] = [
      ["", /not a YAML map/],
      [`key: [unclosed ${CLIENT_KEY}`, /not valid YAML/],
      ["- a\n- b\n", /not a YAML map/],
      ["apiVersion: v1\nkind: Config\n", /exactly one entry in "clusters"/],
      [twoClusters, /exactly one entry in "clusters"/],
      [k3sYaml.replace(/ {4}certificate-authority-data: .*\n/, ""), /certificate-authority-data/],
      [k3sYaml.replace(/users:[\s\S]*$/, "users:\n- name: default\n  user: {}\n"), /no credentials/],
    ];
    for (const [input, expected] of cases) {
      assert.throws(
        () => rewriteKubeconfig(input, "100.64.1.1", "c"),
        (err: Error) => expected.test(err.message) && !err.message.includes(CLIENT_KEY),
        input.slice(0, 40),
      );
    }
  });

  it("rejects an invalid endpoint or an empty cluster name", () => {
    assert.throws(() => rewriteKubeconfig(k3sYaml, "https://100.64.1.1:6443", "c"), /not an IP address/);
    assert.throws(() => rewriteKubeconfig(k3sYaml, "100.64.1.1", ""), /cluster name is empty/);
  });
});
