// The preview guard: reads the JSON document `pulumi preview --json` prints and finds the steps that would
// delete or replace something whose loss loses data (etcd, node volumes, the k3s token, the runtime registries,
// the SOPS key secret, the edge hosts' ACME storage). Pure functions only; scripts/guard.ts is the CLI.
//
// The JSON shape is Pulumi's `PreviewDigest` (pkg/display/json.go in pulumi/pulumi): `steps[]` with `op`,
// `urn`, `provider`, `oldState`/`newState` (apitype.ResourceV3: `urn`, `type`, `inputs`, `outputs`, `parent`,
// `protect`, `retainOnDelete`, ...; secret values masked as "[secret]"), `diffReasons`, `replaceReasons`,
// `detailedDiff` (`{kind, inputDiff}` per property path); `diagnostics[]` (`urn`, `message`, `severity`);
// `changeSummary` (count per op). `same` steps appear only with --show-sames, and the two halves of a
// replacement (`create-replacement`, `delete-replaced`) only with --show-replacement-steps: the logical
// `replace` step is always there.

/** The state of a resource as the preview JSON shows it (a subset of Pulumi's apitype.ResourceV3). */
export interface PreviewResourceState {
  urn: string;
  type: string;
  custom?: boolean;
  id?: string;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
  parent?: string;
  provider?: string;
  protect?: boolean;
  retainOnDelete?: boolean;
  delete?: boolean;
}

export interface PreviewPropertyDiff {
  kind: string;
  inputDiff: boolean;
}

export interface PreviewStep {
  op: string;
  urn: string;
  provider?: string;
  oldState?: PreviewResourceState;
  newState?: PreviewResourceState;
  diffReasons?: string[];
  replaceReasons?: string[];
  detailedDiff?: Record<string, PreviewPropertyDiff> | null;
}

export interface PreviewDiagnostic {
  urn?: string;
  prefix?: string;
  message?: string;
  severity?: string;
}

export interface PreviewDigest {
  config?: Record<string, string>;
  steps?: PreviewStep[];
  diagnostics?: PreviewDiagnostic[];
  duration?: number;
  changeSummary?: Record<string, number>;
  maybeCorrupt?: boolean;
}

/** Step ops whose real-world effect is a delete of the old resource. */
const DELETE_OPS = new Set(["delete", "delete-replaced"]);
/** Step ops that mean "this resource is being replaced" (the old one is deleted before or after). */
const REPLACE_OPS = new Set(["replace", "create-replacement"]);

/** Parse and shape-check `pulumi preview --json` output; throws a message naming what is wrong. */
export function parsePreviewDigest(text: string): PreviewDigest {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(
      `the preview output is not JSON (${reason}); was it produced by 'pulumi preview --json'?`,
    );
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new Error("the preview output is not a JSON object (expected Pulumi's preview digest)");
  }
  const digest = doc as Record<string, unknown>;
  if (digest["steps"] !== undefined && !Array.isArray(digest["steps"])) {
    throw new Error("'steps' in the preview output is not a list");
  }
  for (const [i, step] of ((digest["steps"] ?? []) as unknown[]).entries()) {
    const s = step as Record<string, unknown> | null;
    if (typeof s !== "object" || s === null || typeof s["op"] !== "string" || typeof s["urn"] !== "string") {
      throw new Error(`steps[${i}] in the preview output has no string 'op' and 'urn'`);
    }
  }
  if (digest["diagnostics"] !== undefined && !Array.isArray(digest["diagnostics"])) {
    throw new Error("'diagnostics' in the preview output is not a list");
  }
  return digest;
}

/** The parts of a URN: `urn:pulumi:<stack>::<project>::<parent types $ type>::<name>` (names may hold "::"). */
export interface ParsedUrn {
  stack: string;
  project: string;
  /** Full qualified type: the parents' types and the resource's own, joined by `$`. */
  qualifiedType: string;
  type: string;
  name: string;
}

export function parseUrn(urn: string): ParsedUrn {
  const prefix = "urn:pulumi:";
  const parts = urn.startsWith(prefix) ? urn.slice(prefix.length).split("::") : [];
  const [stack, project, qualifiedType, ...nameParts] = parts;
  if (stack === undefined || project === undefined || qualifiedType === undefined || nameParts.length === 0) {
    throw new Error(`not a Pulumi URN: ${JSON.stringify(urn)}`);
  }
  const types = qualifiedType.split("$");
  return {
    stack,
    project,
    qualifiedType,
    type: types[types.length - 1] ?? qualifiedType,
    name: nameParts.join("::"),
  };
}

/**
 * A Kubernetes object's identity from the state (never secret): `metadata` of a Kubernetes resource, or the
 * `name`/`namespace` inputs of the registries' create-only dynamic resource (components/registries/createOnly.ts).
 */
function kubernetesObject(state: PreviewResourceState): { namespace?: string; name: string } | undefined {
  for (const props of [state.outputs, state.inputs]) {
    const metadata = props?.["metadata"] as { name?: unknown; namespace?: unknown } | undefined;
    const source = state.type === CREATE_ONLY_CONFIGMAP ? props : metadata;
    if (typeof source?.["name"] === "string") {
      const namespace = source["namespace"];
      return { name: source["name"], ...(typeof namespace === "string" ? { namespace } : {}) };
    }
  }
  return undefined;
}

/** One kind of resource whose delete or replacement loses data that cannot be regenerated. */
export interface DataLossRule {
  id: string;
  /** What is lost, in words an operator acts on. */
  loses: string;
  /** Resource type tokens this rule applies to. */
  types: readonly string[];
  /** Type of the component that declares the resource (its direct parent, from the URN's type chain). */
  parent?: string;
  /** Pattern of the resource name (the URN's last part). */
  name?: RegExp;
  /**
   * Kubernetes objects identified by name and namespace (stable across Pulumi resource renames); no namespace
   * for cluster-scoped objects.
   */
  kubernetesObject?: { namespace?: string; name: string };
  /**
   * The data lives in the Pulumi state itself (e.g. a generated token in a command's stdout): `retainOnDelete`
   * does not save it, because the delete still drops it from the state.
   */
  stateOnly?: boolean;
  /** Why a delete of this particular resource is harmless after all (e.g. it has no delete command). */
  harmlessWhen?: (state: PreviewResourceState) => string | undefined;
}

/** The registries' create-only resource deletes the ConfigMap only when the stack opted in (deleteOnDestroy). */
function neverDeletedByProvider(state: PreviewResourceState): string | undefined {
  const optedIn = state.outputs?.["deleteOnDestroy"] ?? state.inputs?.["deleteOnDestroy"];
  return state.type === CREATE_ONLY_CONFIGMAP && optedIn === false
    ? "its provider never deletes the ConfigMap (deleteOnDestroy is false): a new resource adopts it untouched"
    : undefined;
}

/** The edge host's Traefik delete runs remove-traefik.sh, which keeps the ACME storage (components/edge). */
function keepsAcmeStorage(state: PreviewResourceState): string | undefined {
  const del = state.inputs?.["delete"];
  if (typeof del !== "string" || del.trim() === "") {
    return "it has no delete command: Traefik and /var/lib/traefik/acme.json stay on the host";
  }
  return del.trimEnd().endsWith("'remove-traefik.sh'")
    ? "its delete (remove-traefik.sh) keeps /var/lib/traefik/acme.json on the host; a NEW host must get it back from the backup (docs/disaster-recovery.md)"
    : undefined;
}

/** A remote command whose state has no `delete` script: deleting it only drops it from the state. */
function noDeleteCommand(state: PreviewResourceState): string | undefined {
  const del = state.inputs?.["delete"];
  return typeof del === "string" && del.trim() !== ""
    ? undefined
    : "it has no delete command, so deleting it only drops it from the state and the host keeps its data";
}

/** Type of the registries' create-only dynamic resource (components/registries/createOnly.ts). */
const CREATE_ONLY_CONFIGMAP = "pulumi-nodejs:dynamic/registries:CreateOnlyConfigMap";
/** Registries: the create-only dynamic resource, or a plain ConfigMap (a program that declares them so). */
const REGISTRY_TYPES = [
  CREATE_ONLY_CONFIGMAP,
  "kubernetes:core/v1:ConfigMap",
  "kubernetes:core/v1:ConfigMapPatch",
] as const;
const K8S_SECRET = ["kubernetes:core/v1:Secret", "kubernetes:core/v1:SecretPatch"] as const;
const REMOTE_COMMAND = ["command:remote:Command"] as const;

/**
 * The one table of resources whose loss loses data. Kubernetes objects are matched by namespace/name (the
 * runtime contract fixes those names); commands by the component that declares them and their name. URNs
 * carry the ancestors' types without the root stack (`mynodeone:k3s:K3sCluster$command:remote:Command`).
 */
export const DATA_LOSS_RULES: readonly DataLossRule[] = [
  {
    id: "k3s-server",
    loses:
      "a k3s server's install: its delete uninstalls k3s and removes the node's etcd datastore (the whole cluster on a single server)",
    types: REMOTE_COMMAND,
    parent: "mynodeone:k3s:K3sCluster",
    name: /-server-[^:]+$/,
    harmlessWhen: noDeleteCommand,
  },
  {
    id: "k3s-agent",
    loses: "a k3s agent's install: its delete uninstalls k3s and removes the node's local-path volumes",
    types: REMOTE_COMMAND,
    parent: "mynodeone:k3s:K3sCluster",
    name: /-agent-[^:]+$/,
    harmlessWhen: noDeleteCommand,
  },
  {
    id: "k3s-token",
    loses:
      "the generated k3s cluster token (kept only in the stack state): without it no node can join and no etcd snapshot can be restored",
    types: ["command:local:Command"],
    parent: "mynodeone:k3s:ClusterToken",
    stateOnly: true,
  },
  {
    id: "service-registry",
    loses:
      "the runtime service registry (kube-system/service-registry): every service the platform registered",
    types: REGISTRY_TYPES,
    harmlessWhen: neverDeletedByProvider,
    kubernetesObject: { namespace: "kube-system", name: "service-registry" },
  },
  {
    id: "domain-registry",
    loses: "the runtime domain registry (kube-system/domain-registry): domains, VPS nodes and routing",
    types: REGISTRY_TYPES,
    harmlessWhen: neverDeletedByProvider,
    kubernetesObject: { namespace: "kube-system", name: "domain-registry" },
  },
  {
    id: "sync-controller-registry",
    loses:
      "the sync controller registry (kube-system/sync-controller-registry): registered laptops, VPS and worker nodes",
    types: REGISTRY_TYPES,
    harmlessWhen: neverDeletedByProvider,
    kubernetesObject: { namespace: "kube-system", name: "sync-controller-registry" },
  },
  {
    id: "sops-gpg",
    loses:
      "the SOPS key secret (flux-system/sops-gpg): Flux cannot decrypt the secrets in Git until it is back",
    types: K8S_SECRET,
    kubernetesObject: { namespace: "flux-system", name: "sops-gpg" },
  },
  {
    id: "flux-system-namespace",
    loses: "the flux-system namespace and everything in it (Flux, the SOPS key secret, the Git deploy key)",
    types: ["kubernetes:core/v1:Namespace"],
    kubernetesObject: { name: "flux-system" },
  },
  {
    id: "edge-traefik",
    loses:
      "an edge host's Traefik install: a delete that removes /var/lib/traefik loses the ACME account and certificates (re-issuing them all can hit Let's Encrypt rate limits)",
    types: REMOTE_COMMAND,
    parent: "mynodeone:edge:EdgeHost",
    name: /-traefik$/,
    harmlessWhen: keepsAcmeStorage,
  },
];

function ruleMatches(rule: DataLossRule, urn: string, state: PreviewResourceState): boolean {
  if (!rule.types.includes(state.type)) {
    return false;
  }
  if (rule.parent !== undefined || rule.name !== undefined) {
    const parsed = parseUrn(urn);
    const types = parsed.qualifiedType.split("$");
    if (rule.parent !== undefined && types[types.length - 2] !== rule.parent) {
      return false;
    }
    if (rule.name !== undefined && !rule.name.test(parsed.name)) {
      return false;
    }
  }
  if (rule.kubernetesObject !== undefined) {
    const object = kubernetesObject(state);
    const { name, namespace } = rule.kubernetesObject;
    if (object?.name !== name || (namespace !== undefined && object.namespace !== namespace)) {
      return false;
    }
  }
  return true;
}

/** The first rule that covers this resource, if any. */
export function matchDataLossRule(
  urn: string,
  state: PreviewResourceState,
  rules: readonly DataLossRule[] = DATA_LOSS_RULES,
): DataLossRule | undefined {
  return rules.find((rule) => ruleMatches(rule, urn, state));
}

export interface FlaggedStep {
  urn: string;
  type: string;
  name: string;
  action: "delete" | "replace";
  /** The preview op(s) that led here (e.g. "replace", "delete"). */
  ops: string[];
  rule: DataLossRule;
  /** Properties that force the replacement, when the provider said so. */
  replaceReasons: string[];
  /** The resource is protected in the state: `pulumi up` will refuse until it is unprotected. */
  protectedInState: boolean;
}

export interface KeptStep extends FlaggedStep {
  /** Why this delete loses nothing after all. */
  reason: string;
}

export interface GuardResult {
  /** Deletes/replacements that lose data. */
  dangerous: FlaggedStep[];
  /** Deletes/replacements of covered resources that keep the data (retainOnDelete, no delete command). */
  kept: KeptStep[];
  /** Error diagnostics of the preview (a failed preview is never "safe"). */
  errors: string[];
}

/** Find every step that deletes or replaces a resource covered by `rules`. */
export function guardPreview(
  digest: PreviewDigest,
  rules: readonly DataLossRule[] = DATA_LOSS_RULES,
): GuardResult {
  const byUrn = new Map<string, FlaggedStep & { state: PreviewResourceState }>();
  for (const step of digest.steps ?? []) {
    const destructive = DELETE_OPS.has(step.op) || REPLACE_OPS.has(step.op);
    const state = step.oldState ?? step.newState;
    if (!destructive || state === undefined) {
      continue;
    }
    const rule = matchDataLossRule(step.urn, state, rules);
    if (rule === undefined) {
      continue;
    }
    const action = step.op === "delete" ? "delete" : "replace";
    const existing = byUrn.get(step.urn);
    if (existing !== undefined) {
      // The halves of one replacement (replace, create-replacement, delete-replaced) are one finding.
      existing.ops.push(step.op);
      if (action === "replace") {
        existing.action = "replace";
      }
      existing.replaceReasons = [...new Set([...existing.replaceReasons, ...(step.replaceReasons ?? [])])];
      continue;
    }
    const { type, name } = parseUrn(step.urn);
    byUrn.set(step.urn, {
      urn: step.urn,
      type,
      name,
      action: step.op === "delete-replaced" ? "replace" : action,
      ops: [step.op],
      rule,
      replaceReasons: [...(step.replaceReasons ?? [])],
      protectedInState: step.oldState?.protect === true,
      state,
    });
  }

  const dangerous: FlaggedStep[] = [];
  const kept: KeptStep[] = [];
  for (const { state, ...flagged } of byUrn.values()) {
    const reason =
      state.retainOnDelete === true && flagged.rule.stateOnly !== true
        ? "it has retainOnDelete: Pulumi forgets it but never deletes the real object"
        : flagged.rule.harmlessWhen?.(state);
    if (reason !== undefined) {
      kept.push({ ...flagged, reason });
    } else {
      dangerous.push(flagged);
    }
  }
  const errors = (digest.diagnostics ?? [])
    .filter((d) => d.severity === "error")
    .map(
      (d) =>
        `${d.urn !== undefined && d.urn !== "" ? `${parseUrnName(d.urn)}: ` : ""}${(d.message ?? "").trim()}`,
    );
  return { dangerous, kept, errors };
}

function parseUrnName(urn: string): string {
  try {
    return parseUrn(urn).name;
  } catch {
    return urn;
  }
}

const OP_SYMBOLS: Record<string, string> = {
  create: "+",
  update: "~",
  delete: "-",
  replace: "+-",
  "create-replacement": "++",
  "delete-replaced": "--",
  read: ">",
  "read-replacement": ">>",
  import: "=",
  "import-replacement": "=>",
  refresh: "r",
  discard: "<",
  "discard-replaced": "<<",
  same: " ",
};

/** Ops shown in the human diff: everything that changes something. */
function isChange(op: string): boolean {
  return op !== "same" && op !== "read" && op !== "refresh";
}

/**
 * A human-readable diff: one line per changed resource with the property paths that change. Values are left
 * out on purpose: the report goes into job summaries and PR comments, and a value the program did not mark
 * secret would leak there.
 */
export function renderDiff(digest: PreviewDigest): string {
  const lines: string[] = [];
  for (const step of digest.steps ?? []) {
    if (!isChange(step.op) || step.urn.includes("::pulumi:pulumi:Stack::")) {
      continue;
    }
    let parsed: ParsedUrn;
    try {
      parsed = parseUrn(step.urn);
    } catch {
      continue;
    }
    lines.push(`${(OP_SYMBOLS[step.op] ?? "?").padEnd(2)} ${parsed.type}  ${parsed.name}  (${step.op})`);
    const replace = new Set(step.replaceReasons ?? []);
    const paths = Object.entries(step.detailedDiff ?? {}).sort(([a], [b]) => a.localeCompare(b));
    if (paths.length > 0) {
      for (const [path, diff] of paths) {
        lines.push(
          `     ${diff.kind.padEnd(15)} ${path}${replace.has(path.split(/[.[]/)[0] ?? path) ? "  [forces replacement]" : ""}`,
        );
      }
    } else if ((step.diffReasons ?? []).length > 0) {
      for (const key of [...(step.diffReasons ?? [])].sort()) {
        lines.push(`     changed         ${key}${replace.has(key) ? "  [forces replacement]" : ""}`);
      }
    }
  }
  return lines.length > 0 ? lines.join("\n") : "(no resource changes)";
}

/** "create 2, update 1" from the change summary (ops with count 0 and `same` left out). */
export function renderChangeSummary(digest: PreviewDigest): string {
  const entries = Object.entries(digest.changeSummary ?? {})
    .filter(([op, count]) => op !== "same" && count > 0)
    .sort(([a], [b]) => a.localeCompare(b));
  const same = digest.changeSummary?.["same"] ?? 0;
  const changes = entries.map(([op, count]) => `${op} ${count}`).join(", ");
  return `${changes !== "" ? changes : "no changes"}${same > 0 ? ` (${same} unchanged)` : ""}`;
}

function flaggedLine(step: FlaggedStep): string {
  const why = step.replaceReasons.length > 0 ? ` because ${step.replaceReasons.join(", ")} changed` : "";
  return `${step.action.toUpperCase()} ${step.type} ${step.name}${why}${step.protectedInState ? " [protected]" : ""}`;
}

/** The loud banner printed to the log when a preview would lose data. */
export function renderBanner(result: GuardResult, stack: string, allowed: boolean): string {
  if (result.dangerous.length === 0) {
    return "";
  }
  const rule = "#".repeat(100);
  const count = result.dangerous.length;
  const lines = [
    rule,
    rule,
    `###  DATA LOSS: this preview of stack '${stack}' DELETES OR REPLACES ${count} resource${count === 1 ? "" : "s"} holding data that cannot be regenerated`,
    rule,
  ];
  for (const step of result.dangerous) {
    lines.push(`###  ${flaggedLine(step)}`, `###      loses: ${step.rule.loses}`);
  }
  lines.push(rule);
  if (result.dangerous.some((s) => s.protectedInState)) {
    lines.push(
      "###  Resources marked [protected] make `pulumi up` fail until they are unprotected",
      "###  (`pulumi state unprotect '<urn>'`); do that only with a backup (docs/disaster-recovery.md).",
    );
  }
  lines.push(
    allowed
      ? "###  --allow-destructive was given: continuing. Take a backup first (npm run backup:export)."
      : "###  Refusing. If this is intended, take a backup (npm run backup:export) and re-run with --allow-destructive.",
    rule,
    rule,
  );
  return lines.join("\n");
}

/** Markdown report for the job summary and the PR comment (carries a marker so the comment is updated in place). */
export function renderMarkdown(
  digest: PreviewDigest,
  result: GuardResult,
  stack: string,
  allowed: boolean,
): string {
  const lines = [
    previewCommentMarker(stack),
    `### Pulumi preview: \`${stack}\``,
    "",
    `**Changes:** ${renderChangeSummary(digest)}`,
    "",
  ];
  if (result.errors.length > 0) {
    lines.push(
      "> [!CAUTION]",
      `> **The preview failed** (${result.errors.length} error${result.errors.length === 1 ? "" : "s"}):`,
    );
    for (const error of result.errors) {
      lines.push(`> - ${error.split("\n")[0] ?? ""}`);
    }
    lines.push("");
  }
  if (result.dangerous.length > 0) {
    lines.push(
      "> [!CAUTION]",
      `> **DATA LOSS: ${result.dangerous.length} resource${result.dangerous.length === 1 ? "" : "s"} holding data that cannot be regenerated would be deleted or replaced.**`,
    );
    for (const step of result.dangerous) {
      lines.push(`> - \`${flaggedLine(step)}\``, `>   loses: ${step.rule.loses}`);
    }
    lines.push(
      allowed
        ? "> `--allow-destructive` was given. Take a backup first: `npm run backup:export`."
        : "> The check fails. If this is intended: take a backup (`npm run backup:export`) and apply with `--allow-destructive` (see docs/disaster-recovery.md).",
      "",
    );
  }
  if (result.kept.length > 0) {
    lines.push("Checked and kept (no data lost):");
    for (const step of result.kept) {
      lines.push(`- \`${flaggedLine(step)}\`: ${step.reason}`);
    }
    lines.push("");
  }
  lines.push(
    "<details><summary>Diff (property paths only; values are not shown)</summary>",
    "",
    "```",
    renderDiff(digest),
    "```",
    "",
    "</details>",
  );
  return lines.join("\n") + "\n";
}

/** Hidden marker that identifies this stack's preview comment on a pull request. */
export function previewCommentMarker(stack: string): string {
  return `<!-- mynodeone-preview:${stack} -->`;
}
