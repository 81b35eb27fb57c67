# Shared by scripts/bench and scripts/bench-db (sourced): medians and peak RSS of repeated
# runs. Needs BENCH_DIR and RUNS set, and /usr/bin/time.
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
declare -A secs rss size cpu
measure() { # name, command (run by bash), [preparation run untimed before each run];
  # collects elapsed seconds, max RSS (KiB) and the CPU seconds (user + system) of the
  # command and every child it waited for
  local name=$1 cmd=$2 prep=${3:-} t=() m=() c=()
  for _ in $(seq "$RUNS"); do
    [ -z "$prep" ] || bash -c "$prep" || { echo "bench: $name: preparation failed" >&2; exit 1; }
    sync
    /usr/bin/time -o "$BENCH_DIR/time" -f '%e %M %U %S' bash -o pipefail -c "$cmd" >/dev/null 2>"$BENCH_DIR/stderr" ||
      { echo "bench: $name failed:" >&2; cat "$BENCH_DIR/stderr" >&2; exit 1; }
    local e rs u sy
    read -r e rs u sy < <(tail -1 "$BENCH_DIR/time")
    t+=("$e"); m+=("$rs"); c+=("$(awk -v u="$u" -v s="$sy" 'BEGIN { print u + s }')")
  done
  secs[$name]=$(printf '%s\n' "${t[@]}" | median)
  rss[$name]=$(printf '%s\n' "${m[@]}" | sort -n | tail -1)
  cpu[$name]=$(printf '%s\n' "${c[@]}" | median)
}
