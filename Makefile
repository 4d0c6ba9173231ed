# Kinema: the two commands a new user needs are `make run` and `make test`.
# Both install missing Debian packages first (scripts/install-deps.sh), then configure and build.

BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
FUZZ_SECONDS ?= 60

.PHONY: all deps configure build run test bench fuzz sanitize format clean

all: build

deps:
	@./scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) > $(BUILD).configure.log || \
	  { cat $(BUILD).configure.log; exit 1; }

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# The bundled demo model (models/demo) makes a 128x128, 17-frame video in seconds.
DEMO_PROMPT ?= a red circle moves to the right on a black background
run: build
	$(BUILD)/kinema generate "$(DEMO_PROMPT)" --seed 7 -o demo.mp4
	@echo "demo.mp4 is ready. Try your own: $(BUILD)/kinema generate \"a blue square moves up\""

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Kernel benchmarks next to PyTorch's, measured in the same run (bench/run.sh).
bench: build
	./bench/run.sh $(BUILD)

# libFuzzer harnesses for every weight reader, each run for FUZZ_SECONDS on its seed corpus.
fuzz: deps
	cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DKINEMA_FUZZ=ON \
	  -DKINEMA_BUILD_TESTS=OFF -DKINEMA_BUILD_BENCH=OFF
	cmake --build build-fuzz -j $(JOBS)
	./fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

# The whole test suite under AddressSanitizer and UndefinedBehaviorSanitizer.
sanitize: deps
	cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=Debug -DKINEMA_SANITIZE=ON
	cmake --build build-sanitize -j $(JOBS)
	cd build-sanitize && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h')

clean:
	rm -rf $(BUILD) build-fuzz build-sanitize
