# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared by the benchmarks: best wall time of $RUNS runs and peak RSS from GNU time -v.
RUNS=${RUNS:-3}
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "bench: GNU time (/usr/bin/time) is required" >&2; exit 2; }

# measure CMD...: sets $wall (best seconds) and $rss (peak KiB) over $RUNS runs.
measure() {
	local best="" peak=0 w r t0 t1
	for ((i = 0; i < RUNS; i++)); do
		t0=$(date +%s%N)
		"$TIME" -v "$@" >/dev/null 2>"$BENCH_DIR/time.log" || { cat "$BENCH_DIR/time.log" >&2; exit 1; }
		t1=$(date +%s%N)
		w=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
		r=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$BENCH_DIR/time.log")
		if [ -z "$best" ] || awk -v a="$w" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$w; fi
		[ "$r" -gt "$peak" ] && peak=$r
	done
	wall=$best
	rss=$peak
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

row() { # row SIZE STEP SECONDS BASELINE RATIO RSS
	printf '%-7s %-34s %9s %9s %8s %9s\n' "$@"
}
