// The preview guard (scripts/lib/preview-guard.ts, scripts/guard.ts), the CI preview wrapper
// (scripts/preview-ci.sh) and the prod destroy guard (scripts/destroy.sh).
//
// Preview documents are built here in the exact shape `pulumi preview --json` prints (Pulumi's PreviewDigest:
// steps with op/urn/provider/oldState/newState/diffReasons/replaceReasons/detailedDiff, diagnostics,
// changeSummary); the shell scripts run against a fake `pulumi` on PATH that records its arguments.
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  guardPreview,
  parsePreviewDigest,
  parseUrn,
  renderBanner,
  renderDiff,
  renderMarkdown,
  type PreviewDigest,
  type PreviewResourceState,
  type PreviewStep,
} from "../scripts/lib/preview-guard";
import * as YAML from "yaml";
import type { RawConfig } from "../components/config";
import { testKeys } from "./fixtures";
import { pinnedCliVersion } from "./harness/project";
import { runProgram, type ProgramRun } from "./harness/run";
import { isSecretValue, type RecordedResource } from "./mocks";

const ROOT = path.join(__dirname, "..");
const STACK = "prod";
const urn = (qualifiedType: string, name: string): string =>
  `urn:pulumi:${STACK}::mynodeone::${qualifiedType}::${name}`;
const STACK_URN = urn("pulumi:pulumi:Stack", "mynodeone-prod");
const K8S_PROVIDER = `${urn("pulumi:providers:kubernetes", "cluster")}::3c1f0c7e-5d1e-4d8a-9a53-1a0c2b7d9e11`;
const REGISTRIES = "mynodeone:registries:RuntimeRegistries";
const K3S = "mynodeone:k3s:K3sCluster";

function configMap(
  name: string,
  data: Record<string, string>,
  extra: Partial<PreviewResourceState> = {},
): PreviewResourceState {
  const metadata = { name, namespace: "kube-system" };
  return {
    urn: urn(`${REGISTRIES}$kubernetes:core/v1:ConfigMap`, `registries-${name}`),
    custom: true,
    id: `kube-system/${name}`,
    type: "kubernetes:core/v1:ConfigMap",
    inputs: { apiVersion: "v1", kind: "ConfigMap", metadata, data },
    outputs: { apiVersion: "v1", kind: "ConfigMap", metadata: { ...metadata, uid: "0d9c" }, data },
    parent: urn("mynodeone:registries:RuntimeRegistries", "registries"),
    provider: K8S_PROVIDER,
    ...extra,
  };
}

function step(op: string, state: PreviewResourceState, extra: Partial<PreviewStep> = {}): PreviewStep {
  const removing = op === "delete" || op === "delete-replaced";
  return {
    op,
    urn: state.urn,
    provider: K8S_PROVIDER,
    ...(op !== "create" ? { oldState: state } : {}),
    ...(!removing ? { newState: state } : {}),
    detailedDiff: op === "same" ? null : {},
    ...extra,
  };
}

function digest(steps: PreviewStep[], diagnostics: PreviewDigest["diagnostics"] = []): PreviewDigest {
  const summary: Record<string, number> = {};
  steps.forEach((s) => (summary[s.op] = (summary[s.op] ?? 0) + 1));
  return {
    config: { "mynodeone:environment": "prod", "mynodeone:sopsGpgPrivateKey": "[secret]" },
    steps: [
      {
        op: "same",
        urn: STACK_URN,
        oldState: { urn: STACK_URN, type: "pulumi:pulumi:Stack" },
        detailedDiff: null,
      },
      ...steps,
    ],
    diagnostics,
    duration: 4200000000,
    changeSummary: summary,
  };
}

const serviceRegistry = configMap("service-registry", { "services.json": "{}" });
const clusterInfo = configMap("cluster-info", { "cluster-name": "mynodeone-prod" });
const sopsSecret: PreviewResourceState = {
  urn: urn("mynodeone:sops:SopsSecret$kubernetes:core/v1:Secret", "sops-sops-gpg"),
  custom: true,
  id: "flux-system/sops-gpg",
  type: "kubernetes:core/v1:Secret",
  inputs: {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "sops-gpg", namespace: "flux-system" },
    stringData: "[secret]",
  },
  outputs: {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "sops-gpg", namespace: "flux-system" },
    data: "[secret]",
  },
  provider: K8S_PROVIDER,
};
const serverInstall = (name: string, withDelete: boolean): PreviewResourceState => ({
  urn: urn(`${K3S}$command:remote:Command`, `k3s-server-${name}`),
  custom: true,
  id: `k3s-server-${name}-id`,
  type: "command:remote:Command",
  inputs: {
    connection: "[secret]",
    create: "sudo -n env INSTALL_K3S_EXEC='server' bash -c '...' 'k3s-install.sh'",
    ...(withDelete ? { delete: "sudo -n env NODE_ROLE='server' bash -c '...' 'k3s-uninstall.sh'" } : {}),
    stdin: "[secret]",
  },
});
const tokenGenerator: PreviewResourceState = {
  urn: urn("mynodeone:k3s:K3sCluster$mynodeone:k3s:ClusterToken$command:local:Command", "k3s-token-generate"),
  custom: true,
  id: "k3s-token-generate-id",
  type: "command:local:Command",
  inputs: { create: "token=$(od ...)", logging: "none" },
  outputs: { stdout: "[secret]" },
  retainOnDelete: true,
};

describe("preview guard", () => {
  it("flags a replacement of a registry ConfigMap, once for all its steps", () => {
    const reasons = {
      replaceReasons: ["data"],
      diffReasons: ["data"],
      detailedDiff: { "data.services.json": { kind: "update-replace", inputDiff: true } },
    };
    const result = guardPreview(
      digest([
        step("create-replacement", serviceRegistry, reasons),
        step("replace", serviceRegistry, reasons),
        step("delete-replaced", serviceRegistry),
      ]),
    );
    assert.equal(result.dangerous.length, 1);
    const flagged = result.dangerous[0];
    assert.ok(flagged !== undefined);
    assert.equal(flagged.rule.id, "service-registry");
    assert.equal(flagged.action, "replace");
    assert.deepEqual(flagged.replaceReasons, ["data"]);
    assert.deepEqual(flagged.ops, ["create-replacement", "replace", "delete-replaced"]);
  });

  it("flags a delete of the sops-gpg secret and marks a protected resource", () => {
    const result = guardPreview(digest([step("delete", { ...sopsSecret, protect: true })]));
    assert.deepEqual(
      result.dangerous.map((d) => [d.rule.id, d.action, d.protectedInState]),
      [["sops-gpg", "delete", true]],
    );
    assert.match(renderBanner(result, STACK, false), /\[protected\][\s\S]*pulumi state unprotect/);
  });

  it("does not flag an update of cluster-info, creates, or unchanged registries", () => {
    const result = guardPreview(
      digest([
        step("update", clusterInfo, {
          diffReasons: ["data"],
          detailedDiff: { "data.cluster-name": { kind: "update", inputDiff: true } },
        }),
        step("create", configMap("domain-registry", { "domains.json": '{"domains":{},"vps_nodes":[]}' })),
        step("same", serviceRegistry),
        step("same", sopsSecret),
      ]),
    );
    assert.deepEqual(result, { dangerous: [], kept: [], errors: [] });
  });

  it("does not flag deletes or replacements of resources outside the table", () => {
    const result = guardPreview(
      digest([step("delete", clusterInfo), step("replace", { ...clusterInfo, urn: clusterInfo.urn + "-2" })]),
    );
    assert.equal(result.dangerous.length, 0);
  });

  it("keeps a registry delete with retainOnDelete out of the failures, but not the token generator's", () => {
    const result = guardPreview(
      digest([step("delete", { ...serviceRegistry, retainOnDelete: true }), step("delete", tokenGenerator)]),
    );
    assert.deepEqual(
      result.kept.map((k) => k.rule.id),
      ["service-registry"],
    );
    assert.match(result.kept[0]?.reason ?? "", /retainOnDelete/);
    assert.deepEqual(
      result.dangerous.map((d) => d.rule.id),
      ["k3s-token"],
    );
  });

  it("flags a k3s server install only when its delete would uninstall", () => {
    const result = guardPreview(
      digest([
        step("replace", serverInstall("prod-cp-1", true)),
        step("delete", serverInstall("prod-cp-2", false)),
      ]),
    );
    assert.deepEqual(
      result.dangerous.map((d) => [d.rule.id, d.name]),
      [["k3s-server", "k3s-server-prod-cp-1"]],
    );
    assert.deepEqual(
      result.kept.map((k) => [k.rule.id, k.name]),
      [["k3s-server", "k3s-server-prod-cp-2"]],
    );
  });

  it("judges the registries' create-only resources by deleteOnDestroy", () => {
    const createOnly = (deleteOnDestroy: boolean): PreviewResourceState => ({
      urn: urn(
        `${REGISTRIES}$pulumi-nodejs:dynamic/registries:CreateOnlyConfigMap`,
        "registries-domain-registry",
      ),
      custom: true,
      id: "kube-system/domain-registry",
      type: "pulumi-nodejs:dynamic/registries:CreateOnlyConfigMap",
      inputs: {
        __provider: "exports.handler = ...",
        connection: "[secret]",
        namespace: "kube-system",
        name: "domain-registry",
        deleteOnDestroy,
      },
      outputs: { namespace: "kube-system", name: "domain-registry", deleteOnDestroy, origin: "created" },
    });
    const kept = guardPreview(digest([step("delete", createOnly(false))]));
    assert.deepEqual(
      kept.kept.map((k) => k.rule.id),
      ["domain-registry"],
    );
    assert.match(kept.kept[0]?.reason ?? "", /deleteOnDestroy is false/);
    const lost = guardPreview(digest([step("delete", createOnly(true))]));
    assert.deepEqual(
      lost.dangerous.map((d) => d.rule.id),
      ["domain-registry"],
    );
  });

  it("keeps an edge Traefik delete that runs remove-traefik.sh, flags one that does not", () => {
    const traefik = (del: string): PreviewResourceState => ({
      urn: urn("mynodeone:edge:EdgeHost$command:remote:Command", "edge-prod-edge-1-traefik"),
      custom: true,
      id: "edge-traefik-id",
      type: "command:remote:Command",
      inputs: { connection: "[secret]", create: "sudo -n env ... 'install-traefik.sh'", delete: del },
    });
    const kept = guardPreview(
      digest([
        step(
          "delete",
          traefik("sudo -n env ACME_STORAGE='/var/lib/traefik/acme.json' bash -c '...' 'remove-traefik.sh'"),
        ),
      ]),
    );
    assert.deepEqual(
      kept.kept.map((k) => k.rule.id),
      ["edge-traefik"],
    );
    const lost = guardPreview(digest([step("delete", traefik("sudo -n rm -rf /var/lib/traefik"))]));
    assert.deepEqual(
      lost.dangerous.map((d) => d.rule.id),
      ["edge-traefik"],
    );
  });

  it("reports the preview's error diagnostics", () => {
    const result = guardPreview(
      digest(
        [],
        [
          { urn: clusterInfo.urn, message: 'configmaps "cluster-info" is forbidden\n', severity: "error" },
          { message: "a warning", severity: "warning" },
        ],
      ),
    );
    assert.deepEqual(result.errors, ['registries-cluster-info: configmaps "cluster-info" is forbidden']);
  });

  it("parses URNs whose names contain '::' and rejects documents of another shape", () => {
    assert.deepEqual(parseUrn(urn(`${K3S}$command:remote:Command`, "a::b")), {
      stack: STACK,
      project: "mynodeone",
      qualifiedType: `${K3S}$command:remote:Command`,
      type: "command:remote:Command",
      name: "a::b",
    });
    assert.throws(() => parsePreviewDigest("Previewing update (prod)"), /not JSON/);
    assert.throws(() => parsePreviewDigest('{"steps": [{"op": "create"}]}'), /steps\[0\]/);
    assert.equal(parsePreviewDigest("{}").steps, undefined);
  });

  it("renders property paths but no values in the diff and the Markdown report", () => {
    const secretish = configMap("service-registry", { "services.json": '{"app":{"ip":"100.64.9.9"}}' });
    const doc = digest([
      step("replace", secretish, {
        replaceReasons: ["data"],
        detailedDiff: { "data.services.json": { kind: "update-replace", inputDiff: true } },
      }),
      step("update", clusterInfo, {
        detailedDiff: { "data.cluster-name": { kind: "update", inputDiff: true } },
      }),
    ]);
    const diff = renderDiff(doc);
    assert.match(diff, /\+- kubernetes:core\/v1:ConfigMap {2}registries-service-registry {2}\(replace\)/);
    assert.match(diff, /update-replace +data\.services\.json {2}\[forces replacement\]/);
    assert.match(diff, /update +data\.cluster-name$/m);
    const markdown = renderMarkdown(doc, guardPreview(doc), STACK, false);
    assert.ok(markdown.startsWith("<!-- mynodeone-preview:prod -->\n"));
    assert.match(markdown, /\[!CAUTION\][\s\S]*DATA LOSS: 1 resource/);
    for (const text of [diff, markdown]) {
      assert.doesNotMatch(text, /100\.64\.9\.9|mynodeone-prod"/);
    }
  });
});

// ---- the scripts, against a fake pulumi -------------------------------------------------------------------

interface Run {
  status: number;
  stdout: string;
  stderr: string;
  /** Argument lines the fake pulumi was called with. */
  calls: string[];
  /** Environment variable names the fake pulumi saw on `preview`. */
  previewEnv: string[];
}

const FAKE_PULUMI = `#!/usr/bin/env bash
[[ "$1" == version ]] && { echo "v${pinnedCliVersion()}"; exit 0; }
printf '%s\\n' "$*" >>"$FAKE_DIR/calls"
case "$1" in
  preview) env | cut -d= -f1 >"$FAKE_DIR/preview-env"; cat "$FAKE_DIR/preview.json" 2>/dev/null; exit "\${FAKE_PREVIEW_STATUS:-0}" ;;
  config) cat "$FAKE_DIR/config.json"; exit "\${FAKE_CONFIG_STATUS:-0}" ;;
  destroy) exit 0 ;;
esac
exit 0
`;

function runScript(
  script: string,
  args: string[],
  setup: { preview?: PreviewDigest; rawPreview?: string; config?: object; env?: Record<string, string> },
): Promise<Run> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mynodeone-fake-pulumi-"));
  fs.writeFileSync(path.join(dir, "pulumi"), FAKE_PULUMI, { mode: 0o755 });
  // A language host beside the CLI: the scripts then let the CLI start the program itself.
  fs.writeFileSync(path.join(dir, "pulumi-language-nodejs"), "#!/bin/sh\nexit 1\n", { mode: 0o755 });
  if (setup.preview !== undefined || setup.rawPreview !== undefined) {
    fs.writeFileSync(
      path.join(dir, "preview.json"),
      setup.rawPreview ?? JSON.stringify(setup.preview, null, 4),
    );
  }
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(setup.config ?? {}));
  const env: Record<string, string> = {
    PATH: `${dir}:${path.dirname(process.execPath)}:/usr/bin:/bin`,
    HOME: dir,
    FAKE_DIR: dir,
    PULUMI_BACKEND_URL: `file://${dir}/state`,
    PULUMI_CONFIG_PASSPHRASE: "test-passphrase",
    SSH_AUTH_SOCK: "/tmp/agent.sock",
    KUBECONFIG: "/tmp/kubeconfig",
    ...setup.env,
  };
  return new Promise((resolve) => {
    execFile(
      "bash",
      [path.join(ROOT, "scripts", script), ...args],
      { cwd: ROOT, env },
      (error, stdout, stderr) => {
        const read = (name: string): string[] =>
          fs.existsSync(path.join(dir, name))
            ? fs
                .readFileSync(path.join(dir, name), "utf8")
                .split("\n")
                .filter((l) => l !== "")
            : [];
        const run = {
          status: error === null ? 0 : Number(error.code),
          stdout,
          stderr,
          calls: read("calls"),
          previewEnv: read("preview-env"),
        };
        fs.rmSync(dir, { recursive: true, force: true });
        resolve(run);
      },
    );
  });
}

describe("scripts/preview-ci.sh", () => {
  const destructive = digest([step("replace", serviceRegistry, { replaceReasons: ["data"] })]);

  it("previews without refresh, SSH agent or kubeconfig, and passes a safe preview", async () => {
    const run = await runScript("preview-ci.sh", ["--stack", "dev"], {
      preview: digest([step("update", clusterInfo)]),
    });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(run.calls, ["preview --stack dev --diff --refresh=false --json --non-interactive"]);
    assert.ok(run.previewEnv.includes("PULUMI_BACKEND_URL"));
    assert.ok(!run.previewEnv.includes("SSH_AUTH_SOCK") && !run.previewEnv.includes("KUBECONFIG"));
    assert.match(run.stdout, /~ +kubernetes:core\/v1:ConfigMap {2}registries-cluster-info/);
  });

  it("fails loudly on data loss unless --allow-destructive, and writes the report", async () => {
    const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mynodeone-report-")), "report.md");
    const refused = await runScript("preview-ci.sh", ["--stack", "prod", "--report", report], {
      preview: destructive,
    });
    assert.equal(refused.status, 2);
    assert.match(
      refused.stdout,
      /#{20}[\s\S]*DATA LOSS[\s\S]*REPLACE kubernetes:core\/v1:ConfigMap registries-service-registry/,
    );
    assert.match(fs.readFileSync(report, "utf8"), /DATA LOSS/);
    const allowed = await runScript("preview-ci.sh", ["--stack", "prod", "--allow-destructive"], {
      preview: destructive,
      env: { GITHUB_ACTIONS: "true" },
    });
    assert.equal(allowed.status, 0, allowed.stderr);
    assert.match(
      allowed.stdout,
      /::warning title=DATA LOSS in stack prod::replace of kubernetes:core\/v1:ConfigMap/,
    );
    fs.rmSync(path.dirname(report), { recursive: true, force: true });
  });

  it("fails with the preview's status when the preview fails, and appends a report to the job summary", async () => {
    const summaryDir = fs.mkdtempSync(path.join(os.tmpdir(), "mynodeone-summary-"));
    const summary = path.join(summaryDir, "summary.md");
    const run = await runScript("preview-ci.sh", ["--stack", "dev"], {
      env: { FAKE_PREVIEW_STATUS: "255", GITHUB_STEP_SUMMARY: summary },
    });
    assert.equal(run.status, 255);
    assert.match(run.stderr, /'pulumi preview' of stack 'dev' failed \(exit status 255\)/);
    assert.match(fs.readFileSync(summary, "utf8"), /mynodeone-preview:dev[\s\S]*The preview failed/);
    fs.rmSync(summaryDir, { recursive: true, force: true });
  });

  it("reports a failed preview whose output is not JSON", async () => {
    const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "mynodeone-report-")), "report.md");
    fs.writeFileSync(report, "stale report of an earlier run");
    const run = await runScript("preview-ci.sh", ["--stack", "dev", "--report", report], {
      rawPreview: "error: no stack named 'dev' found\n",
      env: { FAKE_PREVIEW_STATUS: "255" },
    });
    assert.equal(run.status, 255);
    assert.match(run.stderr, /the preview output is not JSON/);
    assert.match(
      fs.readFileSync(report, "utf8"),
      /The preview failed\*\* before it printed a result \(exit status 255\)/,
    );
    fs.rmSync(path.dirname(report), { recursive: true, force: true });
  });

  it("refuses to run without a backend URL or passphrase", async () => {
    const noBackend = await runScript("preview-ci.sh", ["--stack", "dev"], {
      env: { PULUMI_BACKEND_URL: "" },
    });
    assert.equal(noBackend.status, 1);
    assert.match(noBackend.stderr, /PULUMI_BACKEND_URL is not set/);
    const noPassphrase = await runScript("preview-ci.sh", ["--stack", "dev"], {
      env: { PULUMI_CONFIG_PASSPHRASE: "" },
    });
    assert.match(noPassphrase.stderr, /PULUMI_CONFIG_PASSPHRASE/);
    assert.deepEqual([...noBackend.calls, ...noPassphrase.calls], []);
  });
});

describe("scripts/destroy.sh", () => {
  const prodConfig = {
    "mynodeone:environment": { value: "prod", secret: false },
    "mynodeone:protect": { value: "true", secret: false },
  };

  it("refuses a prod stack without the flag and never calls pulumi destroy", async () => {
    const run = await runScript("destroy.sh", ["--stack", "prod"], { config: prodConfig });
    assert.equal(run.status, 3);
    assert.match(
      run.stderr,
      /REFUSED: 'prod' is a prod stack; re-run with --i-understand-this-destroys-prod/,
    );
    assert.match(run.stderr, /pulumi state unprotect --all --stack prod/);
    assert.match(run.stderr, /mynodeone:protect false/);
    assert.deepEqual(run.calls, ["config --stack prod --json"]);
  });

  it("treats a stack named prod without mynodeone:environment as prod", async () => {
    const run = await runScript("destroy.sh", ["--stack", "org/mynodeone/prod"], { config: {} });
    assert.equal(run.status, 3);
    assert.ok(!run.calls.some((c) => c.startsWith("destroy")));
  });

  it("destroys prod with the flag, passing pulumi's own arguments through", async () => {
    const run = await runScript(
      "destroy.sh",
      ["--stack", "prod", "--i-understand-this-destroys-prod", "--", "--yes"],
      {
        config: prodConfig,
      },
    );
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(run.calls, ["config --stack prod --json", "destroy --stack prod --yes"]);
  });

  it("destroys a dev stack without the flag", async () => {
    const run = await runScript("destroy.sh", ["--stack", "dev"], {
      config: { "mynodeone:environment": { value: "dev", secret: false } },
    });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(run.calls, ["config --stack dev --json", "destroy --stack dev"]);
  });

  it("fails closed when the stack's config cannot be read", async () => {
    const run = await runScript("destroy.sh", ["--stack", "staging"], { env: { FAKE_CONFIG_STATUS: "255" } });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /refusing to destroy a stack whose environment is unknown/);
    assert.ok(!run.calls.some((c) => c.startsWith("destroy")));
  });
});

// ---- the table against the real program ---------------------------------------------------------------------

/** A recorded resource as the preview JSON would show its state (secrets masked as Pulumi masks them). */
function asState(resource: RecordedResource): PreviewResourceState {
  const mask = (value: unknown): unknown =>
    isSecretValue(value)
      ? "[secret]"
      : Array.isArray(value)
        ? value.map(mask)
        : typeof value === "object" && value !== null
          ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mask(v)]))
          : value;
  return {
    urn: resource.urn,
    type: resource.type,
    inputs: mask(resource.inputs) as Record<string, unknown>,
    protect: resource.protect,
    retainOnDelete: resource.retainOnDelete,
  };
}

/** The shipped Pulumi.prod.yaml as raw config, with throwaway keys for its secrets. */
async function shippedProdConfig(): Promise<RawConfig> {
  const file = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.prod.yaml"), "utf8")) as {
    config: Record<string, unknown>;
  };
  const keys = await testKeys();
  return {
    ...Object.fromEntries(
      Object.entries(file.config).map(([key, value]) => [key.replace(/^mynodeone:/, ""), value]),
    ),
    sopsGpgPrivateKey: keys.gpgPrivateKey,
    sshPrivateKey: keys.sshPrivateKey,
  };
}

describe("guard table against the whole program (mocked, the shipped prod stack)", function () {
  this.timeout(180000);
  let prod: ProgramRun;

  before(async () => {
    prod = await runProgram("prod", await shippedProdConfig());
    assert.equal(prod.error, undefined, prod.error);
  });

  it("matches real resources: every rule covers something the prod program declares", () => {
    const covered = new Set(
      prod.resources
        .flatMap((r) =>
          guardPreview(digest([step("delete", asState(r))])).dangerous.concat(
            guardPreview(digest([step("delete", asState(r))])).kept,
          ),
        )
        .map((f) => f.rule.id),
    );
    assert.deepEqual([...covered].sort(), [
      "domain-registry",
      "edge-traefik",
      "flux-system-namespace",
      "k3s-agent",
      "k3s-server",
      "k3s-token",
      "service-registry",
      "sops-gpg",
      "sync-controller-registry",
    ]);
  });

  it("protects in prod every covered resource whose delete would lose data", () => {
    const unprotected = prod.resources
      .filter((r) => !r.protect)
      .flatMap((r) => guardPreview(digest([step("delete", asState(r))])).dangerous)
      .map((d) => `${d.name} (${d.rule.id})`);
    assert.deepEqual(
      unprotected,
      [],
      `prod resources that a delete would lose, unprotected: ${unprotected.join(", ")}`,
    );
  });
});
