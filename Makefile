# Entry points; the real work lives in scripts/ and CMake.
.PHONY: run stop build test examples bench clean

# The first command: everything running locally with the examples applied.
run:
	scripts/demo.sh

stop:
	scripts/demo.sh stop

build:
	scripts/setup.sh
	cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	ninja -C build

# Runs every test suite (what CI runs).
test:
	scripts/test.sh

# The main job offline: judge the examples and print the Plano config they render to.
examples: build
	./build/plano-operator validate -f examples/*.yaml
	./build/plano-operator render -f examples/*.yaml

# The core's benchmarks (rules, render, admission decode) as one table; see docs/performance.md.
bench:
	scripts/bench.sh core

clean:
	rm -rf build build-asan build-tsan build-fuzz build-kube
