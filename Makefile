# The two set-up commands of the README, and a few helpers.
#   make demo   installs what is missing, builds, runs FedAvg on Fashion-MNIST
#   make test   installs what is missing, builds, runs every test
BUILD_DIR  ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: demo test build configure deps bench clean

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

clean:
	rm -rf $(BUILD_DIR)
