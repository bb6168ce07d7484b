// The source of a Go module at a version, fetched through the Go module proxy into the project's module cache
// (the same cache and rules as the build scripts: proxy only, never a VCS), for tests that read upstream files.
import { execFileSync } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";

const CACHE = path.join(
  process.env["XDG_CACHE_HOME"] ?? path.join(os.homedir(), ".cache"),
  "mynodeone",
  "go",
);

/**
 * Directory of `module@version`. `toolchain`: the Go release the module's go.mod needs (the go command
 * fetches it through the proxy, as GOTOOLCHAIN=<toolchain> does), when newer than the machine's.
 */
export function goModuleDir(module: string, version: string, toolchain?: string): string {
  const proxy = execFileSync("go", ["env", "GOPROXY"], { encoding: "utf8" })
    .trim()
    .split(/[,|]/)
    .filter((entry) => entry !== "direct" && entry !== "off")
    .join(",");
  if (proxy === "") {
    throw new Error("GOPROXY names no module proxy");
  }
  const out = execFileSync("go", ["mod", "download", "-json", `${module}@${version}`], {
    encoding: "utf8",
    env: {
      ...process.env,
      GOMODCACHE: path.join(CACHE, "mod"),
      GOFLAGS: "-modcacherw",
      GOPROXY: proxy,
      GOVCS: "*:off",
      ...(toolchain !== undefined ? { GOTOOLCHAIN: toolchain } : {}),
    },
  });
  const info = JSON.parse(out) as { Dir?: string; Error?: string };
  if (info.Error !== undefined || info.Dir === undefined) {
    throw new Error(`${module}@${version}: ${info.Error ?? "no module directory"}`);
  }
  return info.Dir;
}
