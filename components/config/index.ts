// Stack configuration: raw `mynodeone:*` values in, one typed and validated `PlatformConfig` out.
//
// Each concern reads and validates its own part (components/<concern>/config.ts); this composition runs them
// all, adds the checks across concerns, and reports every problem of a run at once, each naming the key, what
// is wrong and how to fix it. It runs before any resource is registered. Secret values are never shown in a
// message and are wrapped in `pulumi.secret` before they leave the readers.
import * as pulumi from "@pulumi/pulumi";
import { readEdge, type EdgeConfig } from "../edge/config";
import { readFlux, type FluxConfig } from "../flux/config";
import { readK3s, readK3sToken, type K3sSettings } from "../k3s/config";
import { readRegistries, type RegistriesConfig } from "../registries/config";
import { readSsh, type SshConfig } from "../remote/config";
import { readSops, type SopsConfig } from "../sops/config";
import { checkHostKeysPinned, checkSeparateRoles } from "./host";
import { PROJECT } from "./keys";
import { ObjectReader, type RawConfig } from "./reader";
import { readRawConfig, readSettings, SECRET_KEYS, type StackSettings } from "./settings";
import { ConfigError, Problems } from "./validate";

// What `loadConfig` takes and throws.
export { ConfigError } from "./validate";
export type { RawConfig } from "./reader";
export { rawConfigOf } from "./settings";

/** The validated, typed stack configuration every component receives (components never read `pulumi.Config`). */
export interface PlatformConfig extends StackSettings, K3sSettings {
  ssh: SshConfig;
  flux: FluxConfig;
  sops: SopsConfig;
  edge: EdgeConfig;
  registries: RegistriesConfig;
}

export interface ConfigContext {
  /** The Pulumi stack name (default environment). */
  stack: string;
  /** The time credentials are checked against (default: now). */
  now?: Date;
  /** Where a warning about valid config goes (default: the engine's log, `pulumi.log.warn`). */
  warn?: (message: string) => void;
  /**
   * Judge the end of a given kubeconfig's client certificate (default: true; an expired one is a problem).
   * `npm run status` reports it as a finding of its own instead, so that an expired credential still gets a report.
   */
  checkCredentialExpiry?: boolean;
}

/** Validate `raw` and build the typed config; throws one `ConfigError` listing every problem. */
export async function loadConfig(raw: RawConfig, ctx: ConfigContext): Promise<PlatformConfig> {
  const problems = new Problems();
  const root = new ObjectReader(problems, `${PROJECT}:`, raw);
  // Secret keys are read by their concerns, through `secretString`; mark them known for the unknown-key check.
  SECRET_KEYS.forEach((key) => root.value(key));

  const settings = readSettings(root, ctx.stack);
  const ssh = readSsh(root, raw);
  const warn = ctx.warn ?? ((message: string) => void pulumi.log.warn(message));
  const cluster = readK3s(root, raw, ssh, {
    now: ctx.now ?? new Date(),
    warn,
    checkCredentialExpiry: ctx.checkCredentialExpiry ?? true,
  });
  const edge = readEdge(root, ssh, settings.environment);
  const { servers, agents } = cluster.k3s;
  checkSeparateRoles(problems, [...servers, ...agents], edge.hosts);
  if (settings.requireHostKeys) {
    checkHostKeysPinned(problems, { "k3s.servers": servers, "k3s.agents": agents, "edge.hosts": edge.hosts });
  }
  const k3sToken = readK3sToken(problems, raw);
  const flux = readFlux(root, raw, settings.environment);
  const inspectSops = readSops(root, raw);
  const registries = readRegistries(root);
  root.finish();
  const sops = await inspectSops();

  if (!problems.empty) {
    throw new ConfigError(problems.list);
  }
  return { ...settings, ssh, ...cluster, ...k3sToken, flux, sops, edge, registries };
}

/** Read and validate the running stack's config (the program's entry point uses this). */
export function loadStackConfig(): Promise<PlatformConfig> {
  return loadConfig(readRawConfig(), { stack: pulumi.getStack() });
}
