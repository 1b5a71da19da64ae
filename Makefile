# Thin wrapper over CMake for the README's two commands and the CI jobs.
#   make demo       build and run the main job
#   make test       every test that fits CI: plain build (all labels but slow), ASan+UBSan build
#                   (fast labels, warnings as errors), and a bounded fuzz run
#   make test-slow  the slow label
#   make bench      the benchmarks
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
CMAKE_FLAGS ?=

.PHONY: all build demo test test-plain test-sanitize test-fuzz test-slow bench format clean

all: build

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DTRDI_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	./$(BUILD)/trdi demo

test: test-fuzz test-sanitize test-plain

test-plain: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE 'slow|fuzz'

test-sanitize:
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTRDI_SANITIZE=ON -DTRDI_WERROR=ON \
	      -DTRDI_BENCH=OFF -DTRDI_OPENMP=OFF >/dev/null
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    ctest --output-on-failure -j $(JOBS) -L 'unit|kernel|golden|e2e'

test-fuzz:
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTRDI_FUZZ=ON -DTRDI_WERROR=ON \
	      -DTRDI_BENCH=OFF -DTRDI_OPENMP=OFF \
	      -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link,address,undefined" >/dev/null
	cmake --build build-fuzz -j $(JOBS) --target fuzz_targets
	cd build-fuzz && ctest --output-on-failure -L fuzz

test-slow: build
	cd $(BUILD) && ctest --output-on-failure -L slow

bench: build
	@for b in $(BUILD)/bench_*; do echo "== $$b"; $$b; done

format:
	clang-format -i include/*.h src/*/*.[ch] cli/*.[ch] tests/*/*.[ch] bench/*.c

clean:
	rm -rf build build-asan build-fuzz
