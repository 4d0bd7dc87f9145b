# Every external dependency is a Debian 12 package (scripts/install-deps.sh).
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)
# ONNX's ModelProto for the importer (libonnx-dev). Its config file uses protobuf::libprotobuf
# without finding Protobuf itself, so it comes after find_package(Protobuf).
find_package(ONNX CONFIG REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
find_package(CLI11 CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
find_package(GTest CONFIG REQUIRED)
find_package(benchmark CONFIG REQUIRED)
# Tests use Debian's python3 (numpy, grpcio); the python3 first on PATH may lack them.
set(KILN_PYTHON /usr/bin/python3 CACHE FILEPATH "Python with numpy for integration tests")

# LLVM/MLIR 22 for the compiler only. The runtime must never link them (checked in
# runtime_service/CMakeLists.txt).
set(KILN_LLVM_ROOT /usr/lib/llvm-22 CACHE PATH "LLVM 22 install prefix")
find_package(MLIR 22.1 CONFIG REQUIRED PATHS ${KILN_LLVM_ROOT}/lib/cmake/mlir NO_DEFAULT_PATH)
find_package(LLVM CONFIG REQUIRED PATHS ${KILN_LLVM_ROOT}/lib/cmake/llvm NO_DEFAULT_PATH)
find_package(LLD CONFIG REQUIRED PATHS ${KILN_LLVM_ROOT}/lib/cmake/lld NO_DEFAULT_PATH)
set(KILN_FILECHECK ${KILN_LLVM_ROOT}/bin/FileCheck)
# cpp-httplib for the Prometheus endpoint and `kiln metrics`: Debian builds it as a library,
# and its header must see the same feature macros (from pkg-config).
find_package(PkgConfig REQUIRED)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
# libseccomp: the system-call filter of kilnd's sandboxed compile workers.
pkg_check_modules(SECCOMP REQUIRED IMPORTED_TARGET libseccomp)
