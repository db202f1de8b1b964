#!/bin/sh
# benchmarks/real/git.sh GIT REPO — scripts/bench_real's git workload on a scratch copy of
# the generated bare repository REPO (it is repacked in place): history with patches and
# rename detection, blame, a full repack and a full fsck. Everything it prints must not
# depend on the allocator.
set -eu
git=$1
cd "$2"
"$git" log -p --stat -M main
for f in 0 17 34 51 68 85 102 119; do
    "$git" blame -w main -- "dir$((f % 17))/file$f.txt"
done
# One delta-search thread: with several, which deltas are found (and so the pack) varies.
"$git" repack -adfq --threads=1
ls objects/pack
"$git" fsck --full --strict --no-dangling
