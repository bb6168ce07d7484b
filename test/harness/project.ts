// Facts of the project checkout the test harnesses share: where it is and the versions its lockfile pins.
import * as fs from "node:fs";
import * as path from "node:path";

export const PROJECT_DIR = path.join(__dirname, "..", "..");

/** The version package-lock.json pins for an npm package. */
export function lockedVersion(name: string): string {
  const lock = JSON.parse(fs.readFileSync(path.join(PROJECT_DIR, "package-lock.json"), "utf8")) as {
    packages: Record<string, { version?: string }>;
  };
  const version = lock.packages[`node_modules/${name}`]?.version;
  if (version === undefined) {
    throw new Error(`${name} is not in package-lock.json`);
  }
  return version;
}

/** The Pulumi CLI version the project pins: the SDK's (@pulumi/pulumi). */
export function pinnedCliVersion(): string {
  return lockedVersion("@pulumi/pulumi");
}
