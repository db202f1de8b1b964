# hakmem — build, main job and tests. See README.md.
CARGO   ?= cargo
LIB     := target/release/libhakmem.so
BUILD   := build
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR   := $(firstword $(subst ., ,$(VERSION)))

# make install: PREFIX (default /usr/local), DESTDIR (staging root), LIBDIR, INCLUDEDIR.
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
STRIP      ?= strip

.PHONY: all lib deps install uninstall test-install run run-quick run-synthetic run-real test test-rust test-c test-security test-larson test-stress test-programs test-icount test-layers stress header clean

all: lib

# The C library (preload/): libhakmem.so and libhakmem.a, exporting glibc's names.
lib:
	$(CARGO) build --release -p hakmem-preload
	ln -sf libhakmem.so $(LIB).$(MAJOR)

# Installs the libraries (versioned SONAME and links; debug info stripped), the header and
# hakmem.pc (for `pkg-config --cflags --libs hakmem`).
install: lib
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)
	install -m 755 $(LIB) $(DESTDIR)$(LIBDIR)/libhakmem.so.$(VERSION)
	install -m 644 target/release/libhakmem.a $(DESTDIR)$(LIBDIR)/libhakmem.a
	$(STRIP) --strip-debug $(DESTDIR)$(LIBDIR)/libhakmem.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libhakmem.a
	ln -sf libhakmem.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libhakmem.so.$(MAJOR)
	ln -sf libhakmem.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/libhakmem.so
	install -m 644 include/hakmem.h $(DESTDIR)$(INCLUDEDIR)/hakmem.h
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|; s|@VERSION@|$(VERSION)|' \
		hakmem.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/hakmem.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libhakmem.so $(DESTDIR)$(LIBDIR)/libhakmem.so.$(MAJOR) \
		$(DESTDIR)$(LIBDIR)/libhakmem.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libhakmem.a \
		$(DESTDIR)$(LIBDIR)/pkgconfig/hakmem.pc $(DESTDIR)$(INCLUDEDIR)/hakmem.h

# What the tests need on a fresh Debian machine (quiet when it is all there).
deps:
	scripts/install_deps.sh

# The main job: the allocator comparison, on the workloads (Larson and the others) and on real
# programs (scripts/bench_real; 2 repetitions here, to stay within about 10 minutes).
run: run-synthetic
	scripts/bench_real --reps 2

run-synthetic: lib
	scripts/bench

run-real: lib
	scripts/bench_real

run-quick: lib
	scripts/bench --quick
	scripts/bench_real --quick

# Everything CI checks.
test: deps
	$(MAKE) test-layers test-rust test-c test-install test-security test-larson test-stress test-programs test-icount

# The source's layering: no import cycle, no import from a lower layer up (see src/lib.rs).
test-layers:
	scripts/check_layers

test-rust:
	$(CARGO) test --release
	HAKMEM_CHECK=1 $(CARGO) test --release --test fuzz

test-c: lib
	scripts/test_c.sh

# One program per attack (bad frees, use-after-free and overflow writes), default and check mode.
# make install into a temporary prefix; a program built with pkg-config against it.
test-install: lib
	scripts/test_install.sh

test-security: lib
	scripts/test_security.sh

test-larson: lib
	scripts/test_larson.sh

# The fast subset of the stress tests, each run normally and in check mode (HAKMEM_CHECK=1).
test-stress: lib
	scripts/test_stress.sh

test-programs: lib
	scripts/test_programs.sh

# The fast paths' instruction counts (callgrind) against benchmarks/icount_baseline.csv: fails
# when one grows by more than 2%.
test-icount: lib
	scripts/icount --check --no-install

# Long stress runs (test_stress.sh --long and 20 x 4-thread Larson), not part of `make test`.
stress: lib
	scripts/stress.sh

# Regenerate include/hakmem.h (a test fails when the checked-in copy drifts).
header:
	HAK_BLESS_HEADER=1 $(CARGO) test --release --test header

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
