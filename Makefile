# hakmem — build, main job and tests. See README.md.
CARGO   ?= cargo
LIB     := target/release/libhakmem.so
BUILD   := build

.PHONY: all lib run run-quick test test-rust test-c test-security test-larson test-stress test-programs stress header clean

all: lib

lib:
	$(CARGO) build --release --lib

# The main job: the allocator comparison (Larson and the other workloads).
run: lib
	scripts/bench

run-quick: lib
	scripts/bench --quick

# Everything CI checks.
test: test-rust test-c test-security test-larson test-stress test-programs

test-rust:
	$(CARGO) test --release
	HAKMEM_CHECK=1 $(CARGO) test --release --test fuzz

test-c: lib
	scripts/test_c.sh

# One program per attack (bad frees, use-after-free and overflow writes), default and check mode.
test-security: lib
	scripts/test_security.sh

test-larson: lib
	scripts/test_larson.sh

# The fast subset of the stress tests, each run normally and in check mode (HAKMEM_CHECK=1).
test-stress: lib
	scripts/test_stress.sh

test-programs: lib
	scripts/test_programs.sh

# Long stress runs (test_stress.sh --long and 20 x 4-thread Larson), not part of `make test`.
stress: lib
	scripts/stress.sh

# Regenerate include/hakmem.h (a test fails when the checked-in copy drifts).
header:
	HAKMEM_BLESS_HEADER=1 $(CARGO) test --release --test header

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
