# Thin wrappers over Meson; every target is one short recipe.
#   make deps    install the Debian packages (as root) or print the apt-get line
#   make build   configure (once) and compile into build/
#   make test    deps + build + the default suites (unit, integration, capi, python, fuzz)
#   make asan    the same suites under ASan+UBSan, in build-asan/
#   make abi-baseline  re-record capi/abi/libhoming.abi after adding to homing.h
#                (refuses removals and changes; docs/ABI.md)
#   make bench   micro and end-to-end benchmarks (suite bench)
#   make fuzz    libFuzzer targets (clang, ASan+UBSan) in build-fuzz/, each for
#                FUZZ_SECONDS on a scratch copy of its corpus (tests/fuzz/README.md)
#   make demo    deps + the two example programs + the local cluster demo
#                (examples/local-cluster; DEMO_ARGS=--keep keeps it up)
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 180
FUZZ_JOBS ?= 1
MESON_OPTIONS ?= -Dwerror=true
SANITIZER_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
                UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

.PHONY: deps build test asan abi-baseline bench fuzz demo clean

deps:
	@.ci/deps

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTIONS)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

test: deps
	@$(MAKE) --no-print-directory build
	meson test -C $(BUILD) --print-errorlogs

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) $(MESON_OPTIONS) -Dbuildtype=debug \
	  -Db_sanitize=address,undefined -Db_lundef=false

asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	$(SANITIZER_ENV) meson test -C $(ASAN_BUILD) --print-errorlogs

abi-baseline: $(BUILD)/build.ninja
	ninja -C $(BUILD) abi-baseline

bench:
	@.ci/deps bench
	@$(MAKE) --no-print-directory build
	meson test -C $(BUILD) --setup bench --suite bench --verbose

$(FUZZ_BUILD)/build.ninja:
	CC=clang CXX=clang++ meson setup $(FUZZ_BUILD) $(MESON_OPTIONS) -Dfuzzing=enabled \
	  -Db_sanitize=address,undefined -Db_lundef=false -Dexamples=false -Dbenchmarks=disabled

fuzz:
	@.ci/deps fuzz
	@$(MAKE) --no-print-directory $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD) fuzzers
	python3 tests/fuzz/run_fuzzers.py --build-dir $(FUZZ_BUILD) \
	  --seconds $(FUZZ_SECONDS) --jobs $(FUZZ_JOBS)

demo: deps
	@$(MAKE) --no-print-directory $(BUILD)/build.ninja
	ninja -C $(BUILD) examples/proxy/homing-proxy examples/server/homing-server
	python3 examples/local-cluster/local_cluster.py --build-dir $(BUILD) $(DEMO_ARGS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
