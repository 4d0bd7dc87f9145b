# The two commands of the README: `make run` and `make test`. Both install missing Debian
# packages first (scripts/install-deps.sh), configure with CMake + Ninja and build.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
LISTEN ?= 127.0.0.1:8001
# Slow checks (fuzzing, soak, benchmarks) carry these labels and stay out of `make test`.
SLOW_LABELS ?= slow|fuzz|soak|bench

.PHONY: all deps configure build run test bench bench-models fuzz soak tidy clean

all: build

deps:
	@./scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR)

run: build
	$(BUILD_DIR)/server/kilnd --listen $(LISTEN) --model-dir examples

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -LE '$(SLOW_LABELS)'

# Kernel benchmarks against OpenBLAS (numpy) and oneDNN, one thread then two; not part of
# `make test`.
bench: build
	/usr/bin/python3 benchmarks/bench_kernels.py --build $(BUILD_DIR) --threads 1 --json $(BUILD_DIR)/bench-1thread.json
	/usr/bin/python3 benchmarks/bench_kernels.py --build $(BUILD_DIR) --threads 2 --shapes 256x256x256,512x512x512,1024x1024x1024,2048x2048x2048,197x768x768,1x513x1000,49x576x64,1x4096x1024 --json $(BUILD_DIR)/bench-2threads.json
	if grep -q avx512f /proc/cpuinfo; then /usr/bin/python3 benchmarks/bench_kernels.py --build $(BUILD_DIR) --threads 1 --isa avx2 --json $(BUILD_DIR)/bench-avx2.json; fi
	/usr/bin/python3 benchmarks/bench_kernels.py --build $(BUILD_DIR) --threads 1 --shapes $(RAGGED_SHAPES) --convs "" --json $(BUILD_DIR)/bench-ragged.json
	/usr/bin/python3 benchmarks/bench_kernels.py --build $(BUILD_DIR) --threads 2 --shapes $(RAGGED_SHAPES) --convs "" --json $(BUILD_DIR)/bench-ragged-2threads.json
	/usr/bin/python3 benchmarks/bench_kernels.py --build $(BUILD_DIR) --threads 1 --shapes "" --convs $(NARROW_CONVS) --json $(BUILD_DIR)/bench-convs.json
	/usr/bin/python3 benchmarks/bench_kernels.py --build $(BUILD_DIR) --threads 2 --shapes "" --convs $(NARROW_CONVS) --json $(BUILD_DIR)/bench-convs-2threads.json

# Shapes off the tuned grid (issue 17): N, M and K that are not multiples of a register tile,
# primes and near-powers of two included.
RAGGED_SHAPES ?= 384x384x383,256x256x255,512x512x500,64x4096x1000,384x384x385,384x383x384,1000x1000x999,100x300x257,33x1000x77,7x2048x1001,1500x129x65,127x127x127,34x742x68,229x778x602,10x846x261,1301x1645x564

# Narrow-channel convolutions of mobile networks (issue 17), NxHxWxCx(F|dw)[kK][sS] as
# bench_kernels.py --convs reads them: 1x1 and 3x3 with 8..112 output channels, strided, the
# 3x3 and 7x7 stride-2 stems on 3 channels, depthwise 3x3 (strided) and 5x5, and grouped
# (gG: ResNeXt's 32 groups of 4..32 channels, RegNet's groups of 8..64, a 1x1 grouped).
NARROW_CONVS ?= 1x112x112x16x8k1,1x112x112x32x16k1,1x56x56x144x24k1,1x28x28x144x40k1,1x28x28x240x56k1,1x14x14x240x80k1,1x14x14x384x96k1,1x14x14x480x112k1,1x56x56x24x24,1x28x28x40x40,1x28x28x56x56,1x14x14x80x80,1x14x14x112x112,1x112x112x3x32s2,1x28x28x24x40s2,1x14x14x40x80s2,1x112x112x3x64k7s2,1x56x56x144xdw,1x28x28x240xdw,1x28x28x144xdws2,1x14x14x480xdw,1x14x14x672xdwk5,1x56x56x128x128g32,1x28x28x256x256g32,1x14x14x512x512g32,1x7x7x1024x1024g32,1x56x56x256x256g16,1x28x28x512x512g8,1x28x28x192x192g8,1x56x56x64x64k1g8

# The ONNX zoo (benchmarks/onnx_zoo.py: resnet18, mobilenet_v2, regnet_x_400mf, a
# TransformerEncoder, an MLP; resnext50_32x4d with --models)
# against PyTorch's jit path, batch 1, 1 and 2 threads, min and median of 60 runs, plus cold
# compile time on one core, the cache hit and each model's costliest dispatches (kiln-run
# --profile); not part of `make test`.
bench-models: build
	/usr/bin/python3 benchmarks/bench_models.py --build $(BUILD_DIR) --json $(BUILD_DIR)/bench-models.json

# Fuzzing: clang-22 + libFuzzer with ASan and UBSan, in its own build directory. Builds only
# the fuzz targets, then runs each for FUZZ_SECONDS, one after another (ctest label fuzz;
# scripts/run-fuzzer.sh prints each one's executions and executions per second).
FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
fuzz: deps
	@cmake -S . -B $(FUZZ_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 -DKILN_FUZZ=ON >/dev/null
	cmake --build $(FUZZ_BUILD_DIR) --target kiln_fuzzers
	FUZZ_SECONDS=$(FUZZ_SECONDS) ctest --test-dir $(FUZZ_BUILD_DIR) -L '^fuzz$$' -V

# Soak (ctest label soak, integration_tests/soak_test.py): SOAK_MINUTES of mixed compile/load/
# infer/unload from 8 clients with compile workers killed and kilnd restarted, every answer
# checked; prints RSS, fds and threads over time and writes $(BUILD_DIR)/soak.json. Not part of
# `make test`.
SOAK_MINUTES ?= 30
soak: build
	SOAK_MINUTES=$(SOAK_MINUTES) ctest --test-dir $(BUILD_DIR) -L '^soak$$' -V

# clang-tidy-22 (.clang-tidy) over kiln's tracked .cc files with the build's compile commands
# (scripts/tidy.sh); after a build, since sources include generated headers. .ci/run runs it
# too (about 5 minutes on 2 cores).
tidy: build
	BUILD_DIR=$(BUILD_DIR) ./scripts/tidy.sh

clean:
	rm -rf $(BUILD_DIR)
