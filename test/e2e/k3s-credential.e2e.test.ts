// components/k3s/scripts/k3s-program-credential.sh against a real kube-apiserver and controller manager
// (test/envs/kube-test-env.sh), run here as root with `k3s kubectl` standing for the test API's kubectl: the
// program's own credential works, does not expire, is the same on a re-run, and is revoked by deleting its
// ServiceAccount. Opt-in: MYNODEONE_E2E=1 (as root).
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";
import { PROGRAM_CREDENTIAL_SCRIPT, rewriteKubeconfig } from "../../components/k3s";
import { kubeconfigServer } from "../harness/certs";
import { startKubeEnv, type KubeEnv } from "../harness/kube-env";
import { PROJECT_DIR } from "../harness/project";

const ENABLED = process.env["MYNODEONE_E2E"] === "1" && process.getuid?.() === 0;
const SKIP_REASON = "skipped: set MYNODEONE_E2E=1 and run as root to start a real kube-apiserver";
const SCRIPT = path.join(PROJECT_DIR, "components", "k3s", "scripts", PROGRAM_CREDENTIAL_SCRIPT);

describe(`k3s program credential on a real API${ENABLED ? "" : ` (${SKIP_REASON})`}`, function () {
  this.timeout(120_000);
  let env: KubeEnv | undefined;
  let bin: string;
  let server: string;

  before(function () {
    if (!ENABLED) {
      this.skip();
    }
    this.timeout(30 * 60_000);
    env = startKubeEnv("k3s-credential");
    server = kubeconfigServer(fs.readFileSync(env.kubeconfigPath, "utf8"));
    // `k3s kubectl` on a server is kubectl with the admin kubeconfig: here, the test API's.
    bin = fs.mkdtempSync(path.join(os.tmpdir(), "mynodeone-fake-k3s-"));
    fs.writeFileSync(
      path.join(bin, "k3s"),
      `#!/bin/sh\n[ "$1" = kubectl ] || exit 2\nshift\nexec '${env.kubectlBinary}' --kubeconfig='${env.kubeconfigPath}' "$@"\n`,
      { mode: 0o755 },
    );
  });

  after(function () {
    this.timeout(60_000);
    env?.stop();
  });

  /** The script's kubeconfig, rewritten as the component does, pointing at the test API. */
  function credential(): { kubeconfig: string; token: string } {
    const raw = execFileSync("bash", [SCRIPT], {
      encoding: "utf8",
      env: { ...process.env, PATH: `${bin}:${process.env["PATH"] ?? ""}` },
    });
    const kubeconfig = rewriteKubeconfig(raw, "127.0.0.1", "mynodeone-test").replace(
      "https://127.0.0.1:6443",
      server,
    );
    const doc = YAML.parse(kubeconfig) as { users: { user: { token?: string } }[] };
    return { kubeconfig, token: doc.users[0]?.user.token ?? "" };
  }

  function kubectlAs(kubeconfig: string, args: string[]): { ok: boolean; output: string } {
    assert.ok(env);
    const file = path.join(bin, "kubeconfig");
    fs.writeFileSync(file, kubeconfig, { mode: 0o600 });
    try {
      return {
        ok: true,
        output: execFileSync(env.kubectlBinary, [`--kubeconfig=${file}`, "--request-timeout=30s", ...args], {
          encoding: "utf8",
          stdio: ["ignore", "pipe", "pipe"],
        }),
      };
    } catch (err) {
      return { ok: false, output: String((err as { stderr?: string }).stderr ?? err) };
    } finally {
      fs.rmSync(file, { force: true });
    }
  }

  let first: { kubeconfig: string; token: string };

  it("prints a kubeconfig whose token has cluster-admin rights and no expiry", () => {
    first = credential();
    const claims = JSON.parse(
      Buffer.from(first.token.split(".")[1] ?? "", "base64url").toString("utf8"),
    ) as Record<string, unknown>;
    assert.equal(claims["sub"], "system:serviceaccount:kube-system:mynodeone-bootstrap");
    assert.ok(!("exp" in claims), "a Secret-based service-account token carries no expiry");
    const created = kubectlAs(first.kubeconfig, ["create", "namespace", "credential-check"]);
    assert.ok(created.ok, created.output);
    assert.equal(kubectlAs(first.kubeconfig, ["auth", "can-i", "*", "*"]).output.trim(), "yes");
  });

  it("prints the same credential when run again (a re-read changes nothing)", () => {
    assert.equal(credential().token, first.token);
  });

  it("is revoked by deleting its ServiceAccount; a re-run then prints a new, working one", async () => {
    assert.ok(env);
    // Not the Secret alone: a Secret of the same name for the same ServiceAccount brings back the same token.
    env.kubectl(["-n", "kube-system", "delete", "serviceaccount", "mynodeone-bootstrap", "--wait=true"]);
    // The API server caches a token's authentication for a few seconds (its token cache): wait at most 30 s.
    let refused = kubectlAs(first.kubeconfig, ["get", "namespaces"]);
    for (let waited = 0; refused.ok && waited < 30; waited++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      refused = kubectlAs(first.kubeconfig, ["get", "namespaces"]);
    }
    assert.ok(!refused.ok, "the deleted ServiceAccount's token is refused");
    assert.match(refused.output, /Unauthorized|must be logged in/);
    const renewed = credential();
    assert.notEqual(renewed.token, first.token);
    assert.ok(kubectlAs(renewed.kubeconfig, ["get", "namespaces"]).ok);
  });
});
