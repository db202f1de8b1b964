#!/usr/bin/env bash
# scripts/stress.sh — long stress runs under hakmem (`make stress`; not part of `make test`).
#
#   1. 4-thread Larson in the seeds' setting (1024 blocks of 8..128 B, 1 round: a new
#      thread every 1024 operations) repeated 20 times — the run that crashed the original
#      hakmem (remote-free queues, thread exit with live cross-thread blocks).
#   2. Larson in mimalloc-bench's setting at 4 and 8 threads, and across the tiers.
#   3. Longer runs of every other workload, oversubscribed (8 threads or 4 pairs).
#   4. scripts/test_stress.sh --long: the self-checking stress programs of c_tests/stress/
#      (producer/consumer across tiers, thread churn with bounded RSS, fork, RLIMIT_AS
#      out-of-memory, realloc/aligned) and 20 4-thread Larson runs, each both plain and
#      with HAKMEM_CHECK=1; its cases count in the totals below.
# Every block's pattern is checked before it is freed. A case fails on a crash, a
# corruption report, malloc returning NULL, a timeout or any other non-zero exit. About
# 8 minutes with the defaults on 2 cores. The last line of output is exactly "N passed, M failed".
#
# Options:
#   --allocator NAME   run under another allocator instead (glibc, jemalloc, ...)
#   --runs N           repetitions of the 4-thread Larson (default 20)
#   --seconds S        length of each Larson run (default 5)
# Environment: HAK_LIB overrides target/release/libhakmem.so.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# shellcheck source=scripts/lib/testing.sh
. "$ROOT/scripts/lib/testing.sh"
# shellcheck source=benchmarks/testlib.sh
. "$ROOT/benchmarks/testlib.sh"

allocator=hakmem
runs=20
seconds=5
parse_options allocator:,runs:,seconds: "$@"
echo "stress: workloads under $allocator"
if ! testlib_init "$allocator"; then
    finish
    exit 1
fi
limit=$(awk -v s="$seconds" 'BEGIN { printf "%d", s * 4 + 60 }')

for ((i = 1; i <= runs; i++)); do
    run_case "larson#$i ${seconds}s 8-128B 1024 blocks x1 T=4 seed=$((12344 + i))" "$limit" \
        larson "$seconds" 8 128 1024 1 $((12344 + i)) 4
done
run_case "larson ${seconds}s 8-1000B 5000 blocks x100 T=4" "$limit" larson "$seconds" 8 1000 5000 100 4141 4
run_case "larson ${seconds}s 8-1000B 5000 blocks x100 T=8" "$limit" larson "$seconds" 8 1000 5000 100 4142 8
run_case "larson ${seconds}s 8-128B 512 blocks x1 T=8" "$limit" larson "$seconds" 8 128 512 1 4143 8
run_case "larson ${seconds}s 1-16384B T=4" "$limit" larson "$seconds" 1 16384 2000 10 4144 4
run_case "larson ${seconds}s 16K-1M T=4" "$limit" larson "$seconds" 16384 1048576 64 4 4145 4

run_case "random_mixed T=8" 300 random_mixed 3000000 8192 7 8
run_case "random_mixed ws=100000 T=2" 300 random_mixed 8000000 100000 8 2
for size in 16 256 2048 32768; do
    run_case "fixed_size ${size}B T=8" 300 fixed_size 2000000 4096 "$size" 9 8
done
run_case "prodcons 64B 4 pairs" 300 prodcons 5000000 64 10 4
run_case "prodcons 8KiB 4 pairs" 300 prodcons 500000 8192 11 4
run_case "false_sharing scratch T=8" 300 false_sharing scratch 8 2000 8 5000
run_case "false_sharing thrash T=8" 300 false_sharing thrash 8 2000 8 5000
run_case "large_block T=4" 300 large_block 3000 16 12 4
run_case "batch T=8" 300 batch 20 50000 12 8
run_case "malloc_large T=4" 300 malloc_large 200 8 12 4
run_case "mstress T=8" 300 mstress 20 20 12 8

# 4. The stress programs, long mode (under the same allocator; HAK_LIB=none: plain glibc).
# Their lines are passed through; their summary line is added to the totals.
echo "stress: scripts/test_stress.sh --long"
stress_summary=""
while IFS= read -r line; do
    if [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        stress_summary=$line
        T_PASSED=$((T_PASSED + BASH_REMATCH[1]))
        T_FAILED=$((T_FAILED + BASH_REMATCH[2]))
    else
        echo "$line"
    fi
done < <(HAK_LIB="${T_SO:-none}" "$ROOT/scripts/test_stress.sh" --long 2>&1)
if [ -z "$stress_summary" ]; then
    fail "scripts/test_stress.sh --long (it ended without its summary line)"
else
    echo "stress: test_stress.sh: $stress_summary"
fi

finish
