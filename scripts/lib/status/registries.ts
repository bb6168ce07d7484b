// The registries layer: the three runtime registries exist and hold JSON of the contract's shape
// (runtime-contract.md), with their entry counts. The runtime's content is never judged beyond that shape.
import {
  DOMAIN_REGISTRY,
  EMPTY_REGISTRIES,
  REGISTRY_NAMESPACE,
  SERVICE_REGISTRY,
  SYNC_CONTROLLER_REGISTRY,
  type RegistryName,
} from "../../../components/registries/contents";
import { getObject, type KubeGet, type KubeObject } from "./kube";
import { Findings, type Outcome } from "./probe";

/** Per data key: the fields that must be objects or arrays, and what is counted. */
export type Shape = { objects: string[]; arrays: string[]; countKeys: boolean };

/** The contract's shapes: a `.` shape is the document itself. */
export const SHAPES: Record<RegistryName, Record<string, Shape>> = {
  [SERVICE_REGISTRY]: { "services.json": { objects: ["."], arrays: [], countKeys: true } },
  [DOMAIN_REGISTRY]: {
    "domains.json": { objects: ["domains"], arrays: ["vps_nodes"], countKeys: false },
    "routing.json": { objects: ["."], arrays: [], countKeys: true },
  },
  [SYNC_CONTROLLER_REGISTRY]: {
    "registry.json": {
      objects: [],
      arrays: ["management_laptops", "vps_nodes", "worker_nodes"],
      countKeys: false,
    },
  },
};

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Problems of one data value against its shape, and its counts (`3 services`, `vps_nodes 2`). */
export function checkRegistryValue(
  key: string,
  text: string | undefined,
  shape: Shape,
): { problems: string[]; counts: string[] } {
  if (text === undefined) {
    return { problems: [`${key} is missing`], counts: [] };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text) as unknown;
  } catch {
    return { problems: [`${key} is not JSON`], counts: [] };
  }
  if (!isObject(doc)) {
    return { problems: [`${key} is not a JSON object`], counts: [] };
  }
  const problems: string[] = [];
  const counts: string[] = [];
  for (const field of shape.objects) {
    const value = field === "." ? doc : doc[field];
    if (!isObject(value)) {
      problems.push(
        field === "."
          ? `${key} is not an object`
          : `${key}: ${field} ${value === undefined ? "is missing" : "is not an object"}`,
      );
    } else {
      counts.push(`${field === "." ? key : `${key} ${field}`}: ${String(Object.keys(value).length)}`);
    }
  }
  for (const field of shape.arrays) {
    const value = doc[field];
    if (!Array.isArray(value)) {
      problems.push(`${key}: ${field} ${value === undefined ? "is missing" : "is not an array"}`);
    } else {
      counts.push(`${field}: ${String(value.length)}`);
    }
  }
  return { problems, counts };
}

export async function registryFindings(get: KubeGet): Promise<Outcome> {
  const out = new Findings("registries");
  const names = Object.keys(EMPTY_REGISTRIES) as RegistryName[];
  const objects = await Promise.all(
    names.map((name) =>
      getObject<KubeObject>(get, `/api/v1/namespaces/${REGISTRY_NAMESPACE}/configmaps/${name}`),
    ),
  );
  names.forEach((name, i) => {
    const check = `registry ${name}`;
    const object = objects[i];
    if (object === undefined) {
      out.fail(
        check,
        `${REGISTRY_NAMESPACE}/${name} does not exist: the runtime has lost its entries`,
        "restore it from a backup, or pulumi up --refresh recreates it empty (docs/gitops.md, the registries table)",
      );
      return;
    }
    const results = Object.entries(SHAPES[name]).map(([key, shape]) =>
      checkRegistryValue(key, object.data?.[key], shape),
    );
    const problems = results.flatMap((r) => r.problems);
    const counts = results.flatMap((r) => r.counts).join(", ");
    if (problems.length > 0) {
      out.fail(
        check,
        `not the contract's shape: ${problems.join("; ")}`,
        `kubectl -n ${REGISTRY_NAMESPACE} get configmap ${name} -o yaml; then the runtime writer that changed it (docs/gitops.md, runtime registries)`,
      );
    } else {
      out.ok(check, counts);
    }
  });
  return out;
}
