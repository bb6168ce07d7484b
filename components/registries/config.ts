// The runtime registries' config: `mynodeone:registries`.
import { setFix } from "../config/keys";
import type { ObjectReader } from "../config/reader";

export interface RegistriesConfig {
  /** Delete the runtime registries on `pulumi destroy` (default false: they outlive the stack). */
  deleteOnDestroy: boolean;
}

export function readRegistries(root: ObjectReader): RegistriesConfig {
  return root.object("registries", setFix("registries.deleteOnDestroy", "false"), (r) => ({
    deleteOnDestroy: r.boolean("deleteOnDestroy", false),
  }));
}
