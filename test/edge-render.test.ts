// Pure renderers of the edge host: Traefik's static config, its systemd unit, the route-sync authorized_keys.
import { strict as assert } from "node:assert";
import * as crypto from "node:crypto";
import { parse } from "yaml";
import {
  EDGE_PATHS,
  renderSyncAuthorizedKeys,
  renderTraefikStaticConfig,
  renderTraefikUnit,
} from "../components/edge/render";

const STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory";

/** A real ed25519 public key line in OpenSSH format (blob: string "ssh-ed25519", string key). */
function ed25519PublicKey(comment: string): string {
  const der = crypto.generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "der" });
  const raw = der.subarray(der.length - 32);
  const sshString = (data: Buffer): Buffer => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    return Buffer.concat([length, data]);
  };
  const blob = Buffer.concat([sshString(Buffer.from("ssh-ed25519")), sshString(raw)]).toString("base64");
  return `ssh-ed25519 ${blob} ${comment}`;
}

describe("edge: Traefik static config renderer", function () {
  const render = (overrides: Partial<Parameters<typeof renderTraefikStaticConfig>[0]> = {}): string =>
    renderTraefikStaticConfig({
      environment: "dev",
      acmeEmail: "ops@example.com",
      acmeCaUrl: STAGING,
      routesDir: "/etc/traefik/dynamic",
      ...overrides,
    });

  it("has every setting the edge contract needs", function () {
    const config = parse(render()) as Record<string, unknown>;
    assert.deepEqual(config, {
      global: { checkNewVersion: false, sendAnonymousUsage: false },
      log: { level: "INFO" },
      accessLog: { filePath: "/var/log/traefik/access.log", format: "common" },
      entryPoints: {
        web: {
          address: ":80",
          http: { redirections: { entryPoint: { to: "websecure", scheme: "https", permanent: true } } },
        },
        websecure: { address: ":443" },
        // Ping on Traefik's internal entry point, loopback only: never the implicit :8080 on all interfaces.
        traefik: { address: "127.0.0.1:8082" },
      },
      ping: { entryPoint: "traefik" },
      providers: { file: { directory: "/etc/traefik/dynamic", watch: true } },
      certificatesResolvers: {
        letsencrypt: {
          acme: {
            email: "ops@example.com",
            storage: "/var/lib/traefik/acme.json",
            caServer: STAGING,
            httpChallenge: { entryPoint: "web" },
          },
        },
      },
    });
  });

  it("keeps the API and dashboard off (no `api` section at all: its presence enables the API)", function () {
    const config = parse(render()) as Record<string, unknown>;
    assert.equal(config["api"], undefined);
    assert.doesNotMatch(render(), /dashboard|insecure/);
  });

  it("stores ACME data and logs where the unit allows writes", function () {
    const config = parse(render()) as {
      accessLog: { filePath: string };
      certificatesResolvers: { letsencrypt: { acme: { storage: string } } };
    };
    const unit = renderTraefikUnit(EDGE_PATHS);
    const writable = /^ReadWritePaths=(.*)$/m.exec(unit)?.[1]?.split(" ") ?? [];
    const inside = (file: string): boolean => writable.some((dir) => file.startsWith(`${dir}/`));
    assert.ok(inside(config.certificatesResolvers.letsencrypt.acme.storage));
    assert.ok(inside(config.accessLog.filePath));
  });

  it("carries hostile strings as data, exactly", function () {
    const email = `x'; rm -rf / #"@example.com`;
    const routesDir = "/etc/traefik/routes'; rm -rf / #";
    const config = parse(render({ acmeEmail: email, routesDir })) as {
      providers: { file: { directory: string } };
      certificatesResolvers: { letsencrypt: { acme: { email: string } } };
    };
    assert.equal(config.certificatesResolvers.letsencrypt.acme.email, email);
    assert.equal(config.providers.file.directory, routesDir);
  });

  it("is deterministic and names the environment in its header", function () {
    assert.equal(render({ environment: "prod" }), render({ environment: "prod" }));
    assert.match(render({ environment: "prod" }), /^# .*"prod" edge, managed by mynodeone/);
  });
});

describe("edge: Traefik systemd unit renderer", function () {
  const unit = renderTraefikUnit(EDGE_PATHS);
  /** `Key=value` settings of the unit (all occurrences). */
  const settings = (key: string): string[] =>
    unit
      .split("\n")
      .filter((line) => line.startsWith(`${key}=`))
      .map((line) => line.slice(key.length + 1));
  /** Each `key` holds exactly the listed values, in order. */
  const assertSettings = (expected: Record<string, string[]>): void => {
    for (const [key, values] of Object.entries(expected)) {
      assert.deepEqual(settings(key), values, key);
    }
  };

  it("runs Traefik as a notify service that always restarts, as the traefik user", function () {
    assertSettings({
      Type: ["notify"],
      Restart: ["always"],
      User: ["traefik"],
      Group: ["traefik"],
      ExecStart: ["/usr/local/bin/traefik --configFile=/etc/traefik/traefik.yml"],
      WantedBy: ["multi-user.target"],
    });
  });

  it("grants CAP_NET_BIND_SERVICE as the only capability", function () {
    assertSettings({
      AmbientCapabilities: ["CAP_NET_BIND_SERVICE"],
      CapabilityBoundingSet: ["CAP_NET_BIND_SERVICE"],
      NoNewPrivileges: ["true"],
    });
  });

  it("sandboxes the filesystem: read-only except the ACME storage and log directories", function () {
    assertSettings({
      ProtectSystem: ["strict"],
      ProtectHome: ["true"],
      PrivateTmp: ["true"],
      PrivateDevices: ["true"],
      ReadWritePaths: ["/var/lib/traefik /var/log/traefik"],
    });
  });

  it("does not set LimitNPROC (it counts threads and breaks Go)", function () {
    assertSettings({ LimitNPROC: [] });
  });

  it("rejects paths systemd would split or interpret", function () {
    assert.throws(() => renderTraefikUnit({ ...EDGE_PATHS, logDir: "/var/log/my traefik" }), /logDir/);
    assert.throws(() => renderTraefikUnit({ ...EDGE_PATHS, binary: "traefik" }), /binary/);
  });
});

describe("edge: route-sync authorized_keys renderer", function () {
  const command = EDGE_PATHS.routeSyncCommand;

  it("confines every key with restrict and the forced command", function () {
    const keys = [ed25519PublicKey("route-pusher@cluster"), ed25519PublicKey("second")];
    const rendered = renderSyncAuthorizedKeys(keys, command);
    const lines = rendered.split("\n");
    assert.equal(lines.pop(), "", "ends with a newline");
    assert.deepEqual(
      lines,
      keys.map((key) => `restrict,command="${command}" ${key}`),
    );
  });

  it("rejects lines that carry options, several keys, or a blob of another type", function () {
    const key = ed25519PublicKey("ok");
    const blob = key.split(" ")[1] ?? "";
    const bad = [
      `command="/bin/sh" ${key}`,
      `no-pty ${key}`,
      `${key}\n${ed25519PublicKey("smuggled")}`,
      `ssh-rsa ${blob}`,
      "ssh-ed25519 not-base64!",
      `ssh-dss ${blob}`,
      "",
    ];
    for (const line of bad) {
      assert.throws(() => renderSyncAuthorizedKeys([line], command), /syncAuthorizedKeys\[0\]/, line);
    }
  });
});
