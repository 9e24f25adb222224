# The two set-up commands of the README, and a few helpers.
#   make demo   installs what is missing, builds, runs FedAvg on Fashion-MNIST
#   make test   installs what is missing, builds, runs every test
BUILD_DIR  ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

FUZZ_SECONDS ?= 60
SANITIZE_TESTS_TSAN ?= unit:(net|frame|codec|connection|broadcast|checkpoint writer|watchdog|kit runner|job store|python executor)|integration:(processes|swarm|kill mid|malformed|production|workflows|poc)

.PHONY: demo test build configure deps bench clean fuzz test-asan test-tsan

demo: build
	$(BUILD_DIR)/bin/cohort simulate recipes/fedavg_fashion_mnist.toml --workspace workspace/demo

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure --timeout 600 -j $(JOBS)

bench: build
	$(BUILD_DIR)/bin/cohort_bench

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

configure: deps
	@if [ ! -f $(BUILD_DIR)/CMakeCache.txt ]; then \
	  cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS); \
	fi

deps:
	@bash cmake/install-deps.sh

# libFuzzer targets (clang, ASan + UBSan) in build-fuzz, each run FUZZ_SECONDS (bench/FUZZING.md).
fuzz:
	@bash cmake/install-deps.sh fuzz
	@if [ ! -f build-fuzz/CMakeCache.txt ]; then \
	  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DCOHORT_FUZZ=ON -DCOHORT_SANITIZE=address,undefined; \
	fi
	cmake --build build-fuzz --target cohort_fuzzers -j $(JOBS)
	bash tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

# Every test under ASan + UBSan (build-asan), and the concurrent ones under TSan (build-tsan).
test-asan: deps
	@if [ ! -f build-asan/CMakeCache.txt ]; then \
	  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOHORT_SANITIZE=address,undefined; \
	fi
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitizers/lsan.supp:print_suppressions=0 \
	  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=$(CURDIR)/tests/sanitizers/ubsan.supp \
	  ctest --output-on-failure --timeout 1200 -j $(JOBS)

test-tsan: deps
	@if [ ! -f build-tsan/CMakeCache.txt ]; then \
	  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOHORT_SANITIZE=thread; \
	fi
	cmake --build build-tsan --target cohort_unit_tests cohort_integration_tests -j $(JOBS)
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1:suppressions=$(CURDIR)/tests/sanitizers/tsan.supp \
	  ctest --output-on-failure --timeout 1200 -j $(JOBS) -R "$(SANITIZE_TESTS_TSAN)"

clean:
	rm -rf $(BUILD_DIR) build-fuzz build-asan build-tsan
