// The GitHub workflows users get (.github/workflows): pinned actions, no secrets in commands, a preview that
// needs no cluster access, and commands that are exactly the npm scripts the project's own CI runs.
// (test/lint/actionlint.sh lints the same files with actionlint in CI.)
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";

const ROOT = path.join(__dirname, "..");
const WORKFLOW_DIR = path.join(ROOT, ".github", "workflows");

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  env?: Record<string, string>;
  with?: Record<string, unknown>;
}

interface Job {
  "runs-on": string;
  if?: string;
  permissions?: Record<string, string>;
  strategy?: { matrix?: Record<string, unknown> };
  env?: Record<string, string>;
  steps: Step[];
}

interface Workflow {
  name: string;
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  jobs: Record<string, Job>;
}

const read = (file: string): string => fs.readFileSync(path.join(ROOT, file), "utf8");
const workflowFiles = fs
  .readdirSync(WORKFLOW_DIR)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();
const workflows = new Map(
  workflowFiles.map((file) => {
    const text = fs.readFileSync(path.join(WORKFLOW_DIR, file), "utf8");
    return [file, { text, doc: YAML.parse(text) as Workflow }] as const;
  }),
);
const packageScripts = (JSON.parse(read("package.json")) as { scripts: Record<string, string> }).scripts;
const ciRun = read(".ci/run");

function workflow(file: string): Workflow {
  const found = workflows.get(file);
  assert.ok(found, `.github/workflows/${file} exists`);
  return found.doc;
}

function allSteps(): { file: string; job: string; jobDef: Job; step: Step }[] {
  return [...workflows].flatMap(([file, { doc }]) =>
    Object.entries(doc.jobs).flatMap(([job, jobDef]) =>
      jobDef.steps.map((step) => ({ file, job, jobDef, step })),
    ),
  );
}

/** The inline script of an actions/github-script step. */
function scriptOf(step: Step): string {
  const script = step.with?.["script"];
  return typeof script === "string" ? script : "";
}

/** The text of everything the project's own CI runs, following npm scripts and shell scripts from .ci/run. */
function reachableFromCi(): string {
  const seen = new Set<string>();
  const texts: string[] = [];
  const visit = (key: string, text: string): void => {
    if (seen.has(key)) {
      return;
    }
    seen.add(key);
    texts.push(text);
    for (const match of text.matchAll(/\bnpm (?:run(?:-script)? (?:-s )?([\w:.-]+)|(test)\b)/g)) {
      const script = match[1] ?? match[2] ?? "";
      const body = packageScripts[script];
      if (body !== undefined) {
        visit(`npm:${script}`, body);
      }
    }
    for (const match of text.matchAll(/\b(scripts\/[\w./-]+\.sh)\b/g)) {
      const file = match[1] ?? "";
      if (fs.existsSync(path.join(ROOT, file))) {
        visit(file, read(file));
      }
    }
  };
  visit(".ci/run", ciRun);
  return texts.join("\n");
}

describe("GitHub workflows", () => {
  it("exist: a pull-request preview and the optional dev deployment", () => {
    assert.deepEqual(workflowFiles, ["preview.yml", "up-dev.yml"]);
  });

  it("pin every action to a full commit SHA with a version comment", () => {
    const uses = allSteps().filter(({ step }) => step.uses !== undefined);
    assert.ok(uses.length >= 5);
    for (const { file, step } of uses) {
      assert.match(
        step.uses ?? "",
        /^[\w.-]+\/[\w.-]+(\/[\w./-]+)?@[0-9a-f]{40}$/,
        `${file}: ${step.uses ?? ""}`,
      );
      const line = workflows
        .get(file)
        ?.text.split("\n")
        .find((l) => l.includes(`uses: ${step.uses ?? ""}`));
      assert.match(
        line ?? "",
        / # v\d+\.\d+\.\d+$/,
        `${file}: ${step.uses ?? ""} needs a '# vX.Y.Z' comment`,
      );
    }
  });

  it("keep secrets and expressions out of commands and scripts", () => {
    for (const [file, { text, doc }] of workflows) {
      for (const [job, jobDef] of Object.entries(doc.jobs)) {
        for (const step of jobDef.steps) {
          // All values reach commands through env, so nothing is interpolated into a shell script.
          assert.doesNotMatch(
            step.run ?? "",
            /\$\{\{/,
            `${file}/${job}: expression in run: ${step.run ?? ""}`,
          );
          assert.doesNotMatch(scriptOf(step), /\$\{\{|secrets\./, `${file}/${job}: script`);
          assert.doesNotMatch(
            step.run ?? "",
            /set -x|printenv|\benv\b|PASSPHRASE|BACKEND_URL/,
            `${file}/${job}`,
          );
        }
      }
      // `secrets.` only ever appears as the whole value of an env entry.
      for (const line of text.split("\n").filter((l) => l.includes("secrets."))) {
        assert.match(line, /^\s+[A-Z_]+: \$\{\{ secrets\.[A-Z_]+ \}\}$/, `${file}: ${line.trim()}`);
      }
      assert.ok(
        !("pull_request_target" in doc.on),
        `${file}: pull_request_target would hand secrets to fork code`,
      );
      assert.deepEqual(doc.permissions, { contents: "read" }, `${file}: default token permissions`);
    }
  });

  it("preview every stack on pull requests without SSH keys or kubeconfig", () => {
    const preview = workflow("preview.yml");
    assert.deepEqual(Object.keys(preview.on), ["pull_request"]);
    const job = preview.jobs["preview"];
    assert.ok(job);
    const stacks = fs
      .readdirSync(ROOT)
      .map((f) => /^Pulumi\.([\w-]+)\.yaml$/.exec(f)?.[1])
      .filter((s): s is string => s !== undefined)
      .sort();
    assert.deepEqual([...(job.strategy?.matrix?.["stack"] as string[])].sort(), stacks);
    assert.deepEqual(job.permissions, { contents: "read", "pull-requests": "write" });
    const env = { ...job.env, ...Object.assign({}, ...job.steps.map((s) => s.env ?? {})) } as Record<
      string,
      string
    >;
    assert.equal(env["PULUMI_BACKEND_URL"], "${{ secrets.PULUMI_BACKEND_URL }}");
    assert.equal(env["PULUMI_CONFIG_PASSPHRASE"], "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}");
    for (const [key, value] of Object.entries(env)) {
      assert.doesNotMatch(`${key}=${value}`, /SSH|KUBE|PRIVATE_KEY|TAILSCALE/i, `preview env ${key}`);
    }
    const runs = job.steps.map((s) => s.run).filter((r): r is string => r !== undefined);
    assert.ok(runs.includes('npm run preview:ci -- --stack "$STACK"'), runs.join(" | "));
    // The script behind preview:ci previews without refresh, with the diff, and feeds the guard.
    assert.match(packageScripts["preview:ci"] ?? "", /^bash scripts\/preview-ci\.sh$/);
    const previewCommand = read("scripts/preview-ci.sh")
      .split("\n")
      .find((l) => /^\s*pulumi_program preview /.test(l));
    assert.match(previewCommand ?? "", /--refresh=false/);
    assert.match(previewCommand ?? "", /--diff/);
    assert.match(previewCommand ?? "", /--json/);
    assert.match(read("scripts/preview-ci.sh"), /unset SSH_AUTH_SOCK KUBECONFIG/);
    // The PR comment only for branches of this repository (fork PRs get a read-only token and no secrets).
    const comment = job.steps.find((s) => s.uses?.startsWith("actions/github-script@"));
    assert.match(
      comment?.if ?? "",
      /always\(\) && github\.event\.pull_request\.head\.repo\.full_name == github\.repository/,
    );
  });

  it("deploy dev only from main, and only when the repository variable opts in", () => {
    const up = workflow("up-dev.yml");
    assert.deepEqual(up.on, { push: { branches: ["main"] } });
    const job = up.jobs["up"];
    assert.ok(job);
    assert.match(job.if ?? "", /github\.ref == 'refs\/heads\/main'/);
    assert.match(job.if ?? "", /vars\.MYNODEONE_UP_DEV == 'true'/);
    const runs = job.steps.map((s) => s.run).filter((r): r is string => r !== undefined);
    assert.ok(runs.includes("npm run up:ci -- --stack dev"), runs.join(" | "));
    assert.match(packageScripts["up:ci"] ?? "", /^bash scripts\/up-ci\.sh$/);
  });

  it("run exactly the commands the project's own CI runs", () => {
    const install = /^npm ci .*$/m.exec(ciRun)?.[0];
    assert.ok(install, ".ci/run installs with npm ci");
    const nodeVersion = /^NODE_VERSION=(\S+)$/m.exec(ciRun)?.[1];
    const reachable = reachableFromCi();
    for (const { file, job, step } of allSteps()) {
      if (step.uses?.startsWith("actions/setup-node@") === true) {
        assert.equal(
          String(step.with?.["node-version"]),
          nodeVersion,
          `${file}/${job}: same Node as .ci/run`,
        );
      }
      if (step.uses?.startsWith("actions/checkout@") === true) {
        assert.equal(step.with?.["persist-credentials"], false, `${file}/${job}: checkout keeps no token`);
      }
      if (step.run === undefined) {
        continue;
      }
      if (step.run.startsWith("npm ci")) {
        assert.equal(step.run, install, `${file}/${job}: the same install as .ci/run`);
        continue;
      }
      const script = /^npm run ([\w:-]+) -- --stack (?:"\$STACK"|[a-z]+)$/.exec(step.run)?.[1];
      assert.ok(
        script !== undefined,
        `${file}/${job}: '${step.run}' is not 'npm ci' or 'npm run <script> -- --stack <s>'`,
      );
      const body = packageScripts[script];
      assert.ok(body !== undefined, `package.json has no script '${script}'`);
      // The project's own CI exercises the same script file (e.g. the example stack's preview).
      const scriptFile = /scripts\/[\w.-]+\.sh/.exec(body)?.[0] ?? "";
      const called = scriptFile === "scripts/up-ci.sh" ? "scripts/preview-ci.sh" : scriptFile;
      assert.ok(reachable.includes(called), `the project's CI (.ci/run) never runs ${called}`);
    }
  });
});
