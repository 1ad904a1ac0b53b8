#!/usr/bin/env bash
# The layers of src/ as the build enforces them (CMakeLists.txt, lithe_layer): each layer's
# sources see exactly the folders below, and an #include of any other folder fails to compile.
# Usage: layering_test.sh CXX LAYER=INCLUDE_DIRS... (INCLUDE_DIRS: the layer's interface include
# directories, ;-separated, as CMake gives them)
set -euo pipefail
cxx=$1; shift
declare -A want=(
  [base]="base"
  [config]="base config"
  [encoding]="base encoding"
  [metrics]="metrics"
  [http]="base http"
  [router]="base http router"
  [log]="base http log"
  [handlers]="base config encoding handlers http metrics"
  [app]="app base config encoding handlers http log metrics router"
  [net]="app base config encoding handlers http log metrics net router"
  [server]="app base config encoding handlers http log metrics net router server"
)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
failed=0
for arg in "$@"; do
  layer=${arg%%=*}
  IFS=';' read -r -a dirs <<<"${arg#*=}"
  seen=()
  flags=()
  for d in "${dirs[@]}"; do
    flags+=("-I$d")
    [[ $d == */layers/* ]] && seen+=("${d##*/layers/}")
  done
  got=$(printf '%s\n' "${seen[@]}" | sort -u | tr '\n' ' ' | sed 's/ $//')
  if [[ $got != "${want[$layer]}" ]]; then
    echo "FAIL $layer sees: $got; expected: ${want[$layer]}"; failed=$((failed + 1)); continue
  fi
  # Every folder it does not see is really out of reach: an include of it does not compile.
  bad=0
  for other in base config encoding metrics http router log handlers app net server; do
    [[ " $got " == *" $other "* ]] && continue
    header=$(cd "$(dirname "$0")/../src/$other" && ls *.hpp | head -1)
    echo "#include \"$other/$header\"" >"$work/t.cpp"
    if "$cxx" -std=c++20 -fsyntax-only "${flags[@]}" "$work/t.cpp" 2>/dev/null; then
      echo "FAIL $layer can include $other/$header"; bad=1
    fi
  done
  if ((bad)); then failed=$((failed + 1)); else echo "ok   $layer: $got"; fi
done
echo "$(( $# - failed )) passed, $failed failed"
((failed == 0))
