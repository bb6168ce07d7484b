// Git access for Flux's source-controller: the ref it syncs and the pinned SSH host keys.
import type { FluxGitRef } from "./config";

/**
 * github.com's SSH host keys as GitHub publishes them ("GitHub's SSH key fingerprints" in GitHub Docs, also
 * the `ssh_keys` of https://api.github.com/meta). Their SHA256 fingerprints, which that page lists, are
 * +DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU (Ed25519), p2QAMXNIC1TJYWeIOttrVc98/R1BUFWu3/LiyKgUfQM
 * (ECDSA) and uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s (RSA, the key rotated in March 2023); a unit test
 * recomputes them. Pinned instead of ssh-keyscan (trust on first use). All three algorithms are listed, the
 * ecdsa-sha2-nistp256 line included: host key algorithm mismatches are a known Flux failure mode.
 */
export const GITHUB_KNOWN_HOSTS: readonly string[] = [
  "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
  "github.com ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=",
  "github.com ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQCj7ndNxQowgcQnjshcLrqPEiiphnt+VTTvDP6mHBL9j1aNUkY4Ue1gvwnGLVlOhGeYrnZaMgRK6+PKCUXaDbC7qtbW8gIkhL7aGCsOr/C56SJMy/BCZfxd1nWzAOxSDPgVsmerOBYfNqltV9/hWCqBywINIR+5dIg6JTJ72pcEpEjcYgXkE2YEFXV1JHnsKgbLWNlhScqb2UmyRkQyytRLtL+38TGxkxCflmO+5Z8CSSNY7GidjMIZ7Q4zMjA2n1nGrlTDkzwDCsw+wqFPGQA179cnfGWOWRVruj16z6XyvxvjJwbz0wQZ75XK5tKSb7FNyeIEs4TT4jk+S4dhPeAUC5y+bDYirYgM4GC7uEnztnZyaVWQ7B381AK4Qdrwt51ZqExKbQpTUNn+EjqoTwvqNj4kqx5QUCI0ThS/YkOxJCXmPUWZbhjpCg56i+2aB6CmK2JGhn57K5mj0MNdBXA4/WnwH6XoPWJzK5Nyu2zB3nAZp+S5hpQs+p1vN1/wsjk=",
];

/**
 * The `known_hosts` entry of the Git credentials Secret: the configured lines, or github.com's published keys
 * when none are configured (config validation already requires lines for any other SSH host).
 */
export function knownHostsFile(configured: readonly string[]): string {
  const lines = configured.length > 0 ? configured : GITHUB_KNOWN_HOSTS;
  return lines.map((line) => line.trim()).join("\n") + "\n";
}

/** The Git reference in the form the FluxInstance's `spec.sync.ref` takes. */
export function gitRefName(ref: FluxGitRef): string {
  return "branch" in ref ? `refs/heads/${ref.branch}` : `refs/tags/${ref.tag}`;
}
