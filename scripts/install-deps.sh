#!/usr/bin/env bash
# Installs the Debian 12 packages kiln needs to build, test and run. Idempotent: only packages
# that are missing are installed, so a second run is a no-op that takes well under a second.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git
  # LLVM/MLIR 22 (shared libMLIR.so / libLLVM.so), in-process lld, FileCheck/lit tools
  llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools lld-22 liblld-22-dev clang-22
  # code checks: the format check of .ci/run, clang-tidy, and libFuzzer/sanitizer runtimes for
  # clang-22 (`make fuzz`)
  clang-format-22 clang-tidy-22 libclang-rt-22-dev
  # RPC + serialization
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  # libraries
  libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev libssl-dev libabsl-dev libcpp-httplib-dev
  # the sandbox of kilnd's compile workers (compiler_service/service/sandbox.cc)
  libseccomp-dev
  # tests and benchmarks
  googletest libgtest-dev libgmock-dev libbenchmark-dev python3 python3-numpy python3-grpcio
  # certificates for the TLS tests (integration_tests/access_control_test.py)
  openssl
  # the benchmark peer: numpy on OpenBLAS (without it numpy falls back to reference BLAS)
  libopenblas0-pthread
  # and oneDNN, the matmul and convolution peer (benchmarks/onednn_peer.cc)
  # Debian's dnnl-config.cmake requires OpenCL (oneDNN's GPU runtime): its ICD loader and headers
  libdnnl-dev ocl-icd-opencl-dev opencl-headers
  # the ONNX importer (ModelProto from libonnx_proto), and the model zoo its tests export:
  # onnx.helper for op-level graphs, PyTorch + torchvision for whole models (compiler_service/import/onnx)
  libonnx-dev python3-onnx python3-torch python3-torchvision
  python3-protobuf
  # containerized integration tests (integration_tests/container): rootful podman with runc,
  # a debootstrap base image, podman-compose with service-name DNS, iptables for published ports;
  # `podman kube play` of deploy/kubernetes (catatonit: the pods' pause process; the test reads
  # the manifests with python3-yaml)
  podman runc debootstrap podman-compose golang-github-containernetworking-plugin-dnsname iptables
  catatonit python3-yaml
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: missing Debian packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: installing packages needs root; run 'sudo $0' (or install the packages above) and retry." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# A stale or absent package list makes apt-get install fail on a fresh machine.
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
