# virtio-vsock-user: build QEMU 10.2.2 with our device, run the tests.
#
#   make            install what is missing, fetch, verify, build
#   make check      ... and run every test tier (static, unit, qtest,
#                   functional)
#   make check-fresh  make check and make run in a clean Debian root (as
#                     root; RELEASE=trixie, the default, or bookworm)
#   make run        boot the demo enclave
#   make docs       QEMU's manual, our pages included (warnings are errors)
#   make fuzz       run the protocol engine's fuzzer (FUZZ_SECONDS=60)
#   make check-static  the driver's self-test and the generated figures
#   make bench      benchmarks (not tests); results JSON in build/bench/
#   make series     the patch series for upstream QEMU, checkpatch-checked
#   make fuzz-device  QEMU's generic-fuzz on the device, both transports
#   make fuzz-link    the link's fuzz targets: the fuzzer is the other QEMU
#   make check-asan   qtest and functional tiers on an ASan/UBSan QEMU

TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
-include $(TOP)/build/config.mk

QEMU_SRC ?=
CACHE_DIR ?=
EXTRA_QEMU_CONFIGURE ?=
FUZZ_SECONDS ?= 60
FUZZ_PARALLEL ?= 0
ASAN_TIERS ?= qtest,functional
RELEASE ?= trixie

QEMU_TREE := $(TOP)/build/src/qemu
QEMU_BUILD := $(TOP)/build/qemu
QEMU := $(QEMU_BUILD)/qemu-system-x86_64
FUZZ_QEMU_BUILD := $(TOP)/build/fuzz-qemu
ASAN_QEMU_BUILD := $(TOP)/build/asan-qemu
DOCS_BUILD := $(TOP)/build/docs

NINJA_JOBS ?= $(shell nproc)

SOURCE_ARGS := $(if $(QEMU_SRC),--qemu-src=$(QEMU_SRC)) \
               $(if $(CACHE_DIR),--cache-dir=$(CACHE_DIR))

# QEMU for x86_64 with what the mission needs (TCG, microvm, nitro-enclave
# with libcbor and gnutls, slirp, fdt, virtio-mmio and virtio-pci) and little
# else.  Firmware comes from Debian's seabios and qemu-system-data.
QEMU_CONFIGURE := --target-list=x86_64-softmmu \
	--without-default-features \
	--disable-docs --disable-user --disable-install-blobs \
	--disable-download --disable-werror \
	--enable-tcg --enable-kvm --enable-slirp --enable-fdt=system \
	--enable-libcbor --enable-gnutls --enable-vhost-user \
	--enable-vhost-kernel --enable-pixman \
	--python=/usr/bin/python3 \
	--firmwarepath=/usr/share/seabios:/usr/share/qemu:/usr/lib/ipxe/qemu \
	$(EXTRA_QEMU_CONFIGURE)

# The qtests tier 2 builds and runs.
QTESTS := virtio-vsock-user-test virtio-vsock-user-host-test \
	virtio-vsock-user-host-data-test \
	virtio-vsock-user-cli-test virtio-vsock-user-flood-test \
	virtio-vsock-user-qmp-test virtio-vsock-user-seqpacket-test \
	virtio-vsock-user-chardev-test virtio-vsock-user-link-test qos-test qom-test device-introspect-test
QTEST_BINS := $(addprefix tests/qtest/,$(QTESTS))

# Our unit tests and the engine micro-benchmark, built by QEMU's build
# with qemuutil (tests/unit, tests/bench), and the engine's libFuzzer
# target, built by QEMU's fuzzing build (tests/qtest/fuzz).
UNIT_BINS := tests/unit/test-vsock-user-engine \
	tests/unit/test-vsock-user-engine-fuzz \
	tests/unit/test-vsock-user-connect-line \
	tests/unit/test-aio tests/unit/test-aio-multithread \
	tests/bench/vsock-user-engine-bench
ENGINE_FUZZ := tests/qtest/fuzz/vsock-user-engine-fuzz

.PHONY: all deps qemu-src qemu unit docs check check-static check-unit \
	check-qtest \
	check-functional check-fresh run fuzz fuzz-build bench clean \
	distclean help fuzz-qemu fuzz-device fuzz-link asan-qemu check-asan \
	series

all: qemu unit

help:
	@sed -n '3,17p' $(TOP)/Makefile | sed 's/^# //'

deps:
	@bash $(TOP)/scripts/install-deps.sh

qemu-src: deps
	@bash $(TOP)/scripts/qemu-source.sh $(SOURCE_ARGS)

# QEMU's configure runs again only when its arguments change; meson itself
# notices changed meson.build files.  $(call configure-qemu,DIR,ARGS)
define configure-qemu
	@mkdir -p $(1)
	@args='$(2)'; \
	if [ ! -f $(1)/build.ninja ] || \
	   [ "$$(cat $(1)/.vsock-user-configure 2>/dev/null)" != "$$args" ]; then \
		echo "configuring QEMU in $(patsubst $(TOP)/%,%,$(1))"; \
		(cd $(1) && $(QEMU_TREE)/configure $$args \
			> configure.log 2>&1) || \
		{ tail -n 20 $(1)/configure.log; \
		  echo "QEMU configure failed; see $(patsubst $(TOP)/%,%,$(1))/configure.log"; \
		  exit 1; }; \
		echo "$$args" > $(1)/.vsock-user-configure; \
	fi
endef

$(QEMU_BUILD)/.vsock-user-configure: qemu-src
	$(call configure-qemu,$(QEMU_BUILD),$(QEMU_CONFIGURE))

# A QEMU run from its build directory looks for firmware under qemu-bundle/
# (its relocated install tree): point the configured Debian firmware
# directories there, so no -L is needed.
FIRMWARE_DIRS := /usr/share/seabios /usr/share/qemu /usr/lib/ipxe/qemu

# $(call link-firmware,DIR)
define link-firmware
	@for d in $(FIRMWARE_DIRS); do \
		[ -d $$d ] && [ ! -e $(1)/qemu-bundle$$d ] || continue; \
		mkdir -p $$(dirname $(1)/qemu-bundle$$d); \
		ln -sfn $$d $(1)/qemu-bundle$$d; \
	done
endef

qemu: $(QEMU_BUILD)/.vsock-user-configure
	@flock /tmp/vsock-user-heavy.lock \
		ninja -C $(QEMU_BUILD) -j $(NINJA_JOBS) qemu-system-x86_64
	$(call link-firmware,$(QEMU_BUILD))

# QEMU's generic-fuzz target, built as upstream's docs/devel/testing/
# fuzzing.rst says: clang, libFuzzer, ASan and UBSan, in its own build
# directory (instrumented objects cannot be shared with build/qemu).
FUZZ_QEMU_CONFIGURE := $(QEMU_CONFIGURE) --cc=clang --cxx=clang++ \
	--enable-fuzzing --enable-asan --enable-ubsan

$(FUZZ_QEMU_BUILD)/.vsock-user-configure: qemu-src
	$(call configure-qemu,$(FUZZ_QEMU_BUILD),$(FUZZ_QEMU_CONFIGURE))

fuzz-qemu: $(FUZZ_QEMU_BUILD)/.vsock-user-configure
	@flock /tmp/vsock-user-heavy.lock \
		ninja -C $(FUZZ_QEMU_BUILD) -j $(NINJA_JOBS) qemu-fuzz-x86_64
	$(call link-firmware,$(FUZZ_QEMU_BUILD))

# generic-fuzz on virtio-mmio (microvm) and virtio-pci (pc), FUZZ_SECONDS
# each; crashes and hangs (libFuzzer's -timeout) land in
# build/fuzz-device/crashes/TARGET/ with a one-line reproducer each.
fuzz-device: fuzz-qemu
	@bash $(TOP)/scripts/fuzz-device.sh $(FUZZ_QEMU_BUILD) $(FUZZ_SECONDS)

# The vsock-user-link targets of the same fuzzing build (tests/qtest/fuzz/
# vsock-user-link-fuzz.c), the fuzzer playing the other QEMU, listening and
# connecting, FUZZ_SECONDS each (FUZZ_PARALLEL=1: both at once); crashes in
# build/fuzz-link/crashes/TARGET/ with a reproducer each, the figures in
# build/fuzz-link/results.json.
fuzz-link: fuzz-qemu
	@FUZZ_PARALLEL=$(FUZZ_PARALLEL) bash $(TOP)/scripts/fuzz-link.sh \
		$(FUZZ_QEMU_BUILD) $(FUZZ_SECONDS)

# QEMU and its qtests built with gcc's ASan and UBSan in their own build
# directory; make check-asan runs the qtest and functional tiers on them and
# any sanitizer report fails the run (scripts/check.py --sanitizers).
ASAN_QEMU_CONFIGURE := $(QEMU_CONFIGURE) --enable-asan --enable-ubsan

$(ASAN_QEMU_BUILD)/.vsock-user-configure: qemu-src
	$(call configure-qemu,$(ASAN_QEMU_BUILD),$(ASAN_QEMU_CONFIGURE))

asan-qemu: $(ASAN_QEMU_BUILD)/.vsock-user-configure
	@flock /tmp/vsock-user-heavy.lock \
		ninja -C $(ASAN_QEMU_BUILD) -j $(NINJA_JOBS) qemu-system-x86_64 \
		$(QTEST_BINS)
	$(call link-firmware,$(ASAN_QEMU_BUILD))

check-asan: asan-qemu
	@python3 $(TOP)/scripts/check.py --qemu-build $(ASAN_QEMU_BUILD) \
		--qtests "$(QTESTS)" --tiers $(ASAN_TIERS) --sanitizers

unit: $(QEMU_BUILD)/.vsock-user-configure
	@flock /tmp/vsock-user-heavy.lock \
		ninja -C $(QEMU_BUILD) -j $(NINJA_JOBS) $(UNIT_BINS)

# QEMU's manual, ours included, with QEMU's own Sphinx configuration
# (docs/conf.py) and the arguments QEMU's docs build gives sphinx-build:
# warnings are errors (all of them reported: --keep-going).  Later runs
# read only the pages that changed.
docs: qemu-src
	@mkdir -p $(DOCS_BUILD)
	@cd $(QEMU_TREE) && flock /tmp/vsock-user-heavy.lock \
		sphinx-build -q -W --keep-going -Dkerneldoc_werror=1 -j auto \
		-Dversion=$$(cat VERSION) -Drelease= -b html \
		-d $(DOCS_BUILD)/doctrees docs $(DOCS_BUILD)/manual || \
		{ echo "docs: the manual has warnings (above); they are errors"; \
		  exit 1; }

# The bench smoke test in the functional tier runs the vhost-device-vsock
# channel too: the daemon is fetched (apt, as make bench does) before it,
# and a smoke run without it fails instead of skipping.
VHOST_DAEMON := bash $(TOP)/scripts/vhost-device-vsock.sh >/dev/null

# FUNCTIONAL_ARGS go to each tests/functional/x86_64/test_vsock_user_*.py
# (unittest's), e.g. FUNCTIONAL_ARGS="-k eif".
check: qemu unit docs
	@flock /tmp/vsock-user-heavy.lock \
		ninja -C $(QEMU_BUILD) -j $(NINJA_JOBS) $(QTEST_BINS)
	@python3 $(TOP)/scripts/file-graph.py --quiet $(QEMU_BUILD)
	@$(VHOST_DAEMON)
	@python3 $(TOP)/scripts/check.py --qemu-build $(QEMU_BUILD) \
		--unit-build $(QEMU_BUILD) --qtests "$(QTESTS)" \
		--functional-args "$(FUNCTIONAL_ARGS)"

# Needs no build: check.py's self-test and the generated figures.
check-static:
	@python3 $(TOP)/scripts/check.py --tiers static

check-unit: unit
	@python3 $(TOP)/scripts/check.py --unit-build $(QEMU_BUILD) \
		--tiers unit

check-qtest: qemu
	@flock /tmp/vsock-user-heavy.lock \
		ninja -C $(QEMU_BUILD) -j $(NINJA_JOBS) $(QTEST_BINS)
	@python3 $(TOP)/scripts/check.py --qemu-build $(QEMU_BUILD) \
		--qtests "$(QTESTS)" --tiers qtest

check-functional: qemu
	@$(VHOST_DAEMON)
	@python3 $(TOP)/scripts/check.py --qemu-build $(QEMU_BUILD) \
		--tiers functional --functional-args "$(FUNCTIONAL_ARGS)"

# The README's make check and make run in a clean Debian root (RELEASE)
# made by mmdebstrap, with nothing from this machine
# (scripts/check-fresh.sh); needs root.
check-fresh:
	@bash $(TOP)/scripts/check-fresh.sh $(RELEASE)

run: qemu
	@bash $(TOP)/scripts/run-demo.sh $(QEMU) $(EIF)

# The engine's fuzz target under libFuzzer, ASan and UBSan, built in the
# fuzzing build of QEMU that fuzz-device uses (only qemuutil and the
# engine: a few minutes the first time); FUZZ_SECONDS with a corpus kept
# in build/.  make check runs the same target on fixed inputs
# (test-vsock-user-engine-fuzz).
fuzz-build: $(FUZZ_QEMU_BUILD)/.vsock-user-configure
	@flock /tmp/vsock-user-heavy.lock \
		ninja -C $(FUZZ_QEMU_BUILD) -j $(NINJA_JOBS) $(ENGINE_FUZZ)

fuzz: fuzz-build
	@mkdir -p $(TOP)/build/fuzz-corpus
	@UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		$(FUZZ_QEMU_BUILD)/$(ENGINE_FUZZ) \
		-max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		$(TOP)/build/fuzz-corpus

# Benchmarks, not tests: one TCG guest, vsock-user next to virtio-serial
# and virtio-net/slirp; a second guest with vhost-user-vsock-device and
# vhost-device-vsock (fetched into the cache by the benchmark itself), in
# alternating rounds; the scale phases; then the engine micro-benchmark;
# the tables go to build/bench/results.md, every measurement to
# build/bench/results.json (scripts/bench_tables.py renders README.md's
# and the bench docs' tables from a committed copy of one).  Then vsock_perf between two guests whose devices
# are linked (vsock-user-link), both ways, and between the same guests as
# vhost-device-vsock sibling VMs, into build/bench/links.md.
# BENCH_ARGS go to the driver (see --help there),
# e.g. make bench BENCH_ARGS="--repeat 5 --bytes 64M".
bench: qemu unit
	@bash $(TOP)/tests/functional/vsock-user/build-guest.sh $(TOP)/build/guest
	@python3 $(TOP)/tests/bench/vsock-user-bench.py --no-build \
		--qemu $(QEMU) $(BENCH_ARGS)
	@python3 $(TOP)/tests/bench/vsock-user-link-bench.py --qemu $(QEMU)

clean:
	rm -rf $(QEMU_BUILD) $(FUZZ_QEMU_BUILD) $(ASAN_QEMU_BUILD) \
		$(DOCS_BUILD)

distclean:
	rm -rf $(TOP)/build

# The patch series for upstream QEMU (subprojects/qemu-series/), generated
# into build/series/ against the pristine QEMU base, and QEMU's
# scripts/checkpatch.pl over every patch of it.
series: qemu-src
	@python3 $(TOP)/scripts/series.py --checkpatch \
		$(if $(QEMU_SRC),--base $(QEMU_SRC))
