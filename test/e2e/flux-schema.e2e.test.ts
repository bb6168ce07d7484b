// The Flux pins and the FluxInstance against the pinned Flux Operator's own source (its Go module at the
// pinned version, through the module proxy): the pinned Flux distribution must be one the operator embeds, and
// the FluxInstance the program renders for dev and prod (SOPS patch included) must pass the API server's schema
// validation of the operator's FluxInstance CRD, on a real kube-apiserver (test/envs/kube-test-env.sh).
// Opt-in: MYNODEONE_E2E=1.
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  DEFAULT_FLUX_DISTRIBUTION_VERSION,
  DEFAULT_FLUX_OPERATOR_CHART_VERSION,
} from "../../components/flux/config";
import { stackFileConfig, withSecrets } from "../fixtures";
import { installFluxInstanceCrd, operatorModuleDir } from "../harness/flux-env";
import { startKubeEnv, type KubeEnv } from "../harness/kube-env";
import { runProgram } from "../harness/run";
import { plain } from "../mocks";

const ENABLED = process.env["MYNODEONE_E2E"] === "1";
const SKIP_REASON =
  "skipped: set MYNODEONE_E2E=1 to fetch the operator module and start a real kube-apiserver";
const INSTANCE = "kubernetes:fluxcd.controlplane.io/v1:FluxInstance";

/** The Flux releases an operator source tree embeds (config/data/flux-images/v<version>). */
function embeddedFluxVersions(operatorDir: string): string[] {
  return fs
    .readdirSync(path.join(operatorDir, "config", "data", "flux-images"))
    .filter((entry) => /^v\d+\.\d+\.\d+$/.test(entry))
    .map((entry) => entry.slice(1));
}

describe(`Flux pins and the FluxInstance against the pinned operator${ENABLED ? "" : ` (${SKIP_REASON})`}`, function () {
  this.timeout(300_000);
  let operatorDir: string;
  let env: KubeEnv | undefined;

  before(function () {
    if (!ENABLED) {
      this.skip();
    }
    this.timeout(30 * 60_000);
    operatorDir = operatorModuleDir(`v${DEFAULT_FLUX_OPERATOR_CHART_VERSION}`);
  });

  after(function () {
    this.timeout(60_000);
    env?.stop();
  });

  it("pins a Flux distribution that the pinned operator embeds", () => {
    const embedded = embeddedFluxVersions(operatorDir);
    assert.ok(embedded.length > 0, "the operator module lists its embedded Flux releases");
    assert.ok(
      embedded.includes(DEFAULT_FLUX_DISTRIBUTION_VERSION),
      `Flux ${DEFAULT_FLUX_DISTRIBUTION_VERSION} is not embedded by operator ${DEFAULT_FLUX_OPERATOR_CHART_VERSION} (it has ${embedded.join(", ")})`,
    );
  });

  describe("the rendered FluxInstance on a real API with the operator's CRD", () => {
    before(function () {
      this.timeout(30 * 60_000);
      env = startKubeEnv("flux-schema");
      installFluxInstanceCrd(env, operatorDir);
      env.kubectl(["create", "namespace", "flux-system"]);
    });

    /** The FluxInstance the whole program registers for a committed stack (under mocks), as a manifest. */
    async function renderedInstance(stack: "dev" | "prod"): Promise<Record<string, unknown>> {
      const run = await runProgram(stack, await withSecrets(stackFileConfig(`Pulumi.${stack}.yaml`)));
      assert.equal(run.error, undefined, run.error);
      const instance = run.resources.find((r) => r.type === INSTANCE);
      assert.ok(instance, `the ${stack} program registers a FluxInstance`);
      return plain(instance.inputs) as Record<string, unknown>;
    }

    const dryRun = (manifest: unknown): { ok: boolean; output: string } => {
      assert.ok(env);
      try {
        return {
          ok: true,
          output: env.kubectl(
            ["apply", "--dry-run=server", "--server-side", "-f", "-"],
            JSON.stringify(manifest),
          ),
        };
      } catch (err) {
        return { ok: false, output: String((err as { stderr?: string }).stderr ?? err) };
      }
    };

    for (const stack of ["dev", "prod"] as const) {
      it(`${stack}: the API server accepts it (server-side dry run), SOPS patch included`, async () => {
        const manifest = await renderedInstance(stack);
        const spec = manifest["spec"] as { kustomize?: { patches?: unknown[] } };
        assert.ok((spec.kustomize?.patches ?? []).length > 0, "the SOPS decryption patch is part of it");
        const result = dryRun(manifest);
        assert.ok(result.ok, result.output);
        assert.match(
          result.output,
          /fluxinstance\.fluxcd\.controlplane\.io\/flux serverside-applied \(server dry run\)/,
        );
      });
    }

    it("rejects a broken field: the check is the CRD's schema, not a pass-through", async () => {
      const manifest = await renderedInstance("dev");
      const spec = manifest["spec"] as Record<string, Record<string, unknown>>;
      const broken = {
        ...manifest,
        spec: { ...spec, cluster: { ...spec["cluster"], type: "no-such-cluster-type" } },
      };
      const result = dryRun(broken);
      assert.ok(!result.ok, "a cluster type outside the CRD's enum was accepted");
      assert.match(result.output, /spec\.cluster\.type: Unsupported value: "no-such-cluster-type"/);
    });
  });
});
