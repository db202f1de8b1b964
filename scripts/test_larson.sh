#!/usr/bin/env bash
# scripts/test_larson.sh — the benchmark workloads as tests (`make test-larson`): short
# Larson runs and brief runs of every other workload under hakmem (LD_PRELOAD), each
# checking its blocks' patterns before freeing them. A case fails on a crash, a corruption
# report, malloc returning NULL, a timeout or any other non-zero exit. Under a minute.
# The last line of output is exactly "N passed, M failed"; the exit status is non-zero
# when anything failed.
#
# Options:
#   --allocator NAME   run under another allocator instead (glibc, jemalloc, mimalloc,
#                      tcmalloc) — to check the harness itself
#   --seconds S        length of each Larson run (default 2)
# Environment: HAK_LIB overrides target/release/libhakmem.so.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# shellcheck source=scripts/lib/testing.sh
. "$ROOT/scripts/lib/testing.sh"
# shellcheck source=benchmarks/testlib.sh
. "$ROOT/benchmarks/testlib.sh"

allocator=hakmem
seconds=2
parse_options allocator:,seconds: "$@"
echo "test_larson: workloads under $allocator"
if ! testlib_init "$allocator"; then
    finish
    exit 1
fi

# Larson, mimalloc-bench's setting: 5000 blocks of 8..1000 B per thread, 100 rounds.
for t in 1 2 4; do
    run_case "larson ${seconds}s 8-1000B 5000 blocks x100 T=$t" 60 larson "$seconds" 8 1000 5000 100 4141 "$t"
done
# Larson, the seeds' setting: 1024 blocks of 8..128 B, 1 round — a new thread every 1024
# operations, so thread start and exit with live cross-thread blocks are exercised
# thousands of times.
for t in 1 2 4; do
    run_case "larson ${seconds}s 8-128B 1024 blocks x1 T=$t" 60 larson "$seconds" 8 128 1024 1 12345 "$t"
done
# Larson across the tiers: small-to-mid and mid-to-large blocks.
run_case "larson 1s 1-8192B T=4" 60 larson 1 1 8192 2000 10 777 4
run_case "larson 1s 8K-256K T=2" 60 larson 1 8192 262144 200 5 778 2

run_case "random_mixed T=1" 60 random_mixed 1000000 8192 42 1
run_case "random_mixed T=4" 60 random_mixed 300000 8192 43 4
for size in 0 1 8 64 1024 4096 65536; do
    run_case "fixed_size ${size}B T=2" 60 fixed_size 200000 512 "$size" 42 2
done
run_case "prodcons 64B 2 pairs" 60 prodcons 500000 64 42 2
run_case "prodcons 4KiB 2 pairs" 60 prodcons 50000 4096 43 2
run_case "false_sharing scratch T=4" 60 false_sharing scratch 4 200 8 2000
run_case "false_sharing thrash T=4" 60 false_sharing thrash 4 200 8 2000
run_case "large_block T=2" 60 large_block 300 8 42 2
run_case "large_block T=4" 60 large_block 400 8 42 4
run_case "batch T=1" 60 batch 4 50000 42 1
run_case "batch T=4" 60 batch 4 20000 43 4
run_case "malloc_large T=2" 60 malloc_large 20 4 42 2
run_case "mstress T=1" 60 mstress 4 10 42 1
run_case "mstress T=4" 60 mstress 4 5 43 4

finish
