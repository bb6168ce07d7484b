#!/usr/bin/env bash
# Shared by the test environments (kube-test-env.sh, flux-test-env.sh): building pinned Go programs from the
# module proxy into the cache, and running their processes detached with pid files. Source it after setting
# ENV_NAME (the prefix of every message).

CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/mynodeone"
# The same Go caches as scripts/pulumi-toolchain.sh: shared modules are downloaded and compiled once.
GO_CACHE_DIR="$CACHE_ROOT/go"

die() {
  echo "$ENV_NAME: $*" >&2
  exit 1
}
log() { echo "$ENV_NAME: $*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# --- Go environment -------------------------------------------------------------------------------------------

# TOOLCHAIN: the Go release a module needs when newer than the machine's (the go command fetches it through the
# module proxy); default: the machine's own.
go_env() {
  local toolchain=${1:-local}
  command -v go >/dev/null 2>&1 || die "'go' is not on PATH (Debian: /usr/local/go/bin)"
  export GOMODCACHE="$GO_CACHE_DIR/mod" GOCACHE="$GO_CACHE_DIR/build"
  # -p=2: the machines this runs on have two cores shared with other work.
  export GOFLAGS="-modcacherw -trimpath -p=${TEST_ENV_GO_PARALLELISM:-${KUBE_TEST_ENV_GO_PARALLELISM:-2}}"
  # Static binaries, as the upstreams release them.
  export CGO_ENABLED=0
  # Never clone a repository: the module proxy only.
  export GOTOOLCHAIN=$toolchain GOVCS='*:off'
  local proxy
  proxy=$(go env GOPROXY | sed 's/[,|]/\n/g' | grep -vx 'direct' | paste -sd, -)
  [[ -n "$proxy" && "$proxy" != "off" ]] || die "GOPROXY names no module proxy (only direct/off)"
  export GOPROXY="$proxy"
}

# JSON of `go mod edit -json FILE`, reduced to lines "KIND PATH TARGET VERSION" for the replace directives.
replace_lines() {
  go mod edit -json "$1" | node -e '
    const mod = JSON.parse(require("fs").readFileSync(0, "utf8"));
    for (const r of mod.Replace || []) {
      console.log([r.New.Version ? "module" : "dir", r.Old.Path, r.New.Path, r.New.Version || "-"].join(" "));
    }'
}

gomod_field() {
  go mod edit -json "$1" | node -e '
    const mod = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const v = process.argv[1].split(".").reduce((o, k) => (o == null ? undefined : o[k]), mod);
    if (v !== undefined) console.log(typeof v === "string" ? v : JSON.stringify(v));' "$2"
}

# Field FIELD (Dir: the source, GoMod: its go.mod) of MODULE@VERSION, downloaded through the module proxy.
module_field() {
  local field=$1 module=$2 version=$3 info
  info=$(go mod download -json "$module@$version") || die "the module proxy does not serve $module@$version"
  node -e 'const d = JSON.parse(process.argv[1]); const v = d[process.argv[2]];
    if (d.Error || !v) { console.error(d.Error); process.exit(1); }
    console.log(v);' "$info" "$field" || die "cannot fetch $module@$version"
}

# Writes wrapper module DIR that requires MODULE@VERSION, builds the main packages TOOLS (Go 1.24 `tool`
# directives) and repeats the module's replace directives, which `go install module@version` refuses:
#  - ./staging/src/P (Kubernetes' staging repositories) -> P at the published v0.<minor>.<patch>;
#  - ../X (etcd's sibling modules) -> that module at the same version;
#  - ./X/... naming module P (Flux's ./api) -> P at the same version;
#  - other directories (etcd's ./FORBIDDEN_DEPENDENCY guards) are dropped: nothing may import them anyway.
# EXTRA_REPLACES (array of old=new@version) are added last; WRAPPER_TIDY_FLAGS are passed to `go mod tidy`.
write_wrapper() {
  local dir=$1 name=$2 module=$3 version=$4
  shift 4
  local gomod
  gomod=$(module_field GoMod "$module" "$version") || exit 1
  rm -rf "$dir"
  mkdir -p "$dir"
  (
    cd "$dir" || exit
    go mod init "mynodeone.local/$ENV_NAME/$name" 2>/dev/null
    go mod edit -go="$(gomod_field "$gomod" Go)" -require="$module@$version"
    local godebug
    godebug=$(go mod edit -json "$gomod" | node -e '
      const mod = JSON.parse(require("fs").readFileSync(0, "utf8"));
      for (const g of mod.GoDebug || []) console.log(g.Key + "=" + g.Value);')
    local setting
    for setting in $godebug; do go mod edit -godebug="$setting"; done
    local staging_version="v0.${version#v1.}"
    local kind path target target_version
    while read -r kind path target target_version; do
      if [[ "$kind" == "module" ]]; then
        go mod edit -replace="$path=$target@$target_version"
      elif [[ "$target" == "./staging/src/$path" ]]; then
        go mod edit -replace="$path=$path@$staging_version"
      elif [[ "$target" == ../* ]]; then
        go mod edit -require="$path@$version"
      elif [[ "$path" == "$module/${target#./}" ]]; then
        go mod edit -replace="$path=$path@$version"
      fi
    done < <(replace_lines "$gomod")
    local replace
    for replace in "${EXTRA_REPLACES[@]}"; do go mod edit -replace="$replace"; done
    local tool
    for tool in "$@"; do go mod edit -tool="$tool"; done
    # shellcheck disable=SC2086 # flags, split on purpose
    go mod tidy ${WRAPPER_TIDY_FLAGS:-}
  )
}

# The wrapper in DIR must require MODULE at VERSION (else the pins and the committed go.mod disagree).
check_wrapper() {
  local dir=$1 module=$2 version=$3 pinned
  [[ -f "$dir/go.mod" && -f "$dir/go.sum" ]] || die "$dir/go.{mod,sum} missing: run '$0 pin'"
  pinned=$(go mod edit -json "$dir/go.mod" | node -e '
    const mod = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const r = (mod.Require || []).find((x) => x.Path === process.argv[1]);
    console.log(r ? r.Version : "");' "$module")
  [[ "$pinned" == "$version" ]] ||
    die "$dir/go.mod requires $module ${pinned:-(nothing)}, the script pins $version: run '$0 pin'"
}

# Builds main package PACKAGE of the module in DIR into OUTPUT (via a staging file, so an interrupted build never
# leaves a broken binary), unless OUTPUT exists and was built from the same inputs (Go version, go.mod/go.sum,
# ldflags, EXTRA_STAMP: recorded in OUTPUT.stamp).
build_tool() {
  local dir=$1 package=$2 output=$3 ldflags=$4 start stamp
  stamp=$({
    go version
    echo "$package $ldflags ${EXTRA_STAMP:-}"
    cat "$dir/go.mod" "$dir/go.sum"
  } | sha256sum | cut -d' ' -f1)
  if [[ -x "$output" && "$(cat "$output.stamp" 2>/dev/null)" == "$stamp" ]]; then
    log "$(basename "$output"): up to date ($output)"
    return
  fi
  start=$(now)
  mkdir -p "$(dirname "$output")"
  log "building $(basename "$output") ($package)"
  (cd "$dir" && nice -n 10 go build -ldflags "-s -w $ldflags" -o "$output.partial-build" "$package") ||
    die "building $package failed after $(elapsed "$start") s"
  mv -f "$output.partial-build" "$output"
  echo "$stamp" >"$output.stamp"
  log "$(basename "$output"): built in $(elapsed "$start") s"
}

# --- processes ------------------------------------------------------------------------------------------------

# Sets variable VAR to a free TCP port on 127.0.0.1 that no earlier call chose, outside the kernel's ephemeral
# range: a port inside it can be the local end of any outgoing connection (the tests make many), which a connect
# probe does not see and which makes the later bind fail with "address already in use". Ports come from 20000
# (above the edge environment's fixed ones) up to the range's start, else from above its end; a machine whose
# range leaves neither gets ports from 20000-59999, with a note. A port some socket on this host holds, in any
# state, is skipped. The port is only checked, not held: a process that takes it in between fails to start,
# which `start` reports.
USED_PORTS=()
free_port() {
  local var=$1 port attempt low=32768 high=60999 from to
  read -r low high </proc/sys/net/ipv4/ip_local_port_range || true
  if ((low - 20000 >= 1000)); then
    from=20000 to=$low
  elif ((65535 - high >= 1000)); then
    from=$((high + 1)) to=65536
  else
    from=20000 to=60000
    ((${#USED_PORTS[@]})) || log "the ephemeral port range ($low-$high) leaves no room: test ports may collide with it"
  fi
  for ((attempt = 1; attempt <= 100; attempt++)); do
    port=$((from + (RANDOM * 32768 + RANDOM) % (to - from)))
    [[ " ${USED_PORTS[*]} " == *" $port "* ]] && continue
    port_in_use "$port" && continue
    USED_PORTS+=("$port")
    printf -v "$var" '%s' "$port"
    return
  done
  die "no free port on 127.0.0.1 in $from-$((to - 1)) after 100 attempts"
}

# True when some TCP socket on this host (listening, connected or closing; IPv4 or IPv6) has PORT as its
# local port.
port_in_use() {
  local hex
  printf -v hex ':%04X ' "$1"
  awk -v hex="$hex" 'FNR > 1 && index($2 " ", hex) { found = 1; exit } END { exit !found }' \
    /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# Starts component NAME (the sourcing script's `component_binary NAME` says which binary) detached, in a
# session of its own so it outlives this script and the caller's terminal, logging to DIR/logs/NAME.log, its
# pid in DIR/NAME.pid. Leading VAR=value arguments go into its environment: launch DIR NAME [VAR=value...] ARGS...
launch() {
  local dir=$1 name=$2
  shift 2
  local env_vars=()
  while (($#)) && [[ "$1" =~ ^[A-Z_][A-Z0-9_]*= ]]; do
    env_vars+=("$1")
    shift
  done
  local binary
  binary=$(component_binary "$name")
  env "${env_vars[@]}" setsid "$binary" "$@" </dev/null >>"$dir/logs/$name.log" 2>&1 &
  echo $! >"$dir/$name.pid"
}

# Pid of component NAME in DIR when it is running (the pid file's process is still that binary), else nothing.
running_pid() {
  local dir=$1 name=$2 pid state exe
  [[ -f "$dir/$name.pid" ]] || return 0
  pid=$(cat "$dir/$name.pid")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  # " (deleted)": the binary was rebuilt while the process ran.
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
  [[ "${exe% (deleted)}" == "$(realpath -m "$(component_binary "$name")")" ]] || return 0
  # A zombie (exited, not yet reaped by whoever adopted it) counts as stopped.
  state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null || true)
  [[ -n "$state" && "$state" != Z ]] && echo "$pid"
  return 0
}

# Stops components NAMES... of DIR in the order given: SIGTERM, then SIGKILL after 15 s.
stop_components() {
  local dir=$1 name pid waited
  shift
  for name in "$@"; do
    pid=$(running_pid "$dir" "$name")
    [[ -n "$pid" ]] || continue
    kill -TERM "$pid" 2>/dev/null || true
    for ((waited = 0; waited < 30; waited++)); do
      [[ -n "$(running_pid "$dir" "$name")" ]] || break
      sleep 0.5
    done
    if [[ -n "$(running_pid "$dir" "$name")" ]]; then
      log "$name (pid $pid) ignored SIGTERM for 15 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}

# Prints the last lines of DIR/logs/NAME.log after MESSAGE.
show_log() {
  local dir=$1 name=$2 message=$3
  echo "$ENV_NAME: $message; last lines of $dir/logs/$name.log:" >&2
  tail -n 30 "$dir/logs/$name.log" >&2 || true
}

# Waits (until DEADLINE, a value of $SECONDS the sourcing script sets) for CHECK (a command) to succeed while component NAME keeps
# running (READY_TIMEOUT: its length, for the message); on failure calls `fail_start DIR NAME MESSAGE` of the sourcing script.
wait_for() {
  local dir=$1 name=$2 what=$3
  shift 3
  until "$@" >/dev/null 2>&1; do
    [[ -n "$(running_pid "$dir" "$name")" ]] || fail_start "$dir" "$name" "$name exited while waiting for $what"
    ((SECONDS < DEADLINE)) || fail_start "$dir" "$name" "timed out after ${READY_TIMEOUT}s waiting for $what"
    sleep 0.5
  done
}

# DIR (resolved) when it holds an environment `start` created (its MARKER file), else an error.
checked_dir() {
  local dir=${1:-}
  [[ -n "$dir" ]] || usage
  [[ -d "$dir" ]] || die "$dir does not exist"
  dir=$(realpath "$dir")
  [[ -f "$dir/$MARKER" ]] || die "$dir holds no environment started by '$0 start'"
  echo "$dir"
}
