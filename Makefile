# Thin wrappers over Meson; every target is one short recipe.
#   make deps    install the Debian packages (as root) or print the apt-get line
#   make build   configure (once) and compile into build/
#   make test    deps + build + the default suites (unit, integration, capi, python)
#   make asan    the same suites under ASan+UBSan, in build-asan/
#   make bench   micro and end-to-end benchmarks (suite bench)
#   make demo    deps + the two example programs + the local cluster demo
#                (examples/local-cluster; DEMO_ARGS=--keep keeps it up)
BUILD ?= build
ASAN_BUILD ?= build-asan
MESON_OPTIONS ?= -Dwerror=true
SANITIZER_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
                UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

.PHONY: deps build test asan bench demo clean

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

bench:
	@.ci/deps bench
	@$(MAKE) --no-print-directory build
	meson test -C $(BUILD) --setup bench --suite bench --verbose

demo: deps
	@$(MAKE) --no-print-directory $(BUILD)/build.ninja
	ninja -C $(BUILD) examples/proxy/homing-proxy examples/server/homing-server
	python3 examples/local-cluster/local_cluster.py --build-dir $(BUILD) $(DEMO_ARGS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
