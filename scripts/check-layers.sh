#!/bin/sh
# The include rules between kiln's layers (docs/architecture.md): a folder may include only
# the layers below it. Prints each include that breaks a rule and fails; run by ctest as
# `layers` (and by hand: scripts/check-layers.sh [source root]).
root=${1:-$(dirname "$0")/..}
cd "$root" || exit 1
status=0
# rule FOLDER FORBIDDEN...: no file under FOLDER includes a header from a FORBIDDEN folder.
rule() {
  folder=$1
  shift
  for forbidden in "$@"; do
    hits=$(grep -rnE "^#include \"$forbidden/" "$folder" --include='*.h' --include='*.cc' \
      --include='*.cpp' 2>/dev/null)
    if [ -n "$hits" ]; then
      echo "check-layers: $folder/ must not include $forbidden/:"
      echo "$hits"
      status=1
    fi
  done
}
# only_from FOLDER LAYER ALLOWED: FOLDER includes from LAYER/ only headers matching the
# extended regex ALLOWED (the part of LAYER/ it may use).
only_from() {
  hits=$(grep -rnE "^#include \"$2/" "$1" --include='*.h' --include='*.cc' --include='*.cpp' \
    2>/dev/null | grep -vE "^[^:]*:[0-9]+:#include \"$2/$3")
  if [ -n "$hits" ]; then
    echo "check-layers: $1/ may include from $2/ only $3:"
    echo "$hits"
    status=1
  fi
}
# no_grpc FILE...: transport-free files include no gRPC header (generated stubs included) and
# none of the services' gRPC glue; the services adapt them to gRPC.
no_grpc() {
  for f in "$@"; do
    hits=$(grep -nE '^#include ["<](grpcpp/|grpc/|.*\.grpc\.pb\.h|grpc_edge/|runtime_service/service/grpc_)' "$f")
    if [ -n "$hits" ]; then
      echo "check-layers: $f must not include gRPC:"
      echo "$hits"
      status=1
    fi
  done
}
rule metrics runtime_service compiler_service artifact_cache grpc_edge server client_cli
rule grpc_edge runtime_service compiler_service artifact_cache metrics server client_cli
# The artifact cache sits on the module layer, below both services: neither reaches the
# other's service folder through it.
rule artifact_cache compiler_service grpc_edge server client_cli
only_from artifact_cache runtime_service '(base|module)/'
rule runtime_service compiler_service server client_cli
rule compiler_service server client_cli runtime_service/service
rule client_cli server compiler_service artifact_cache grpc_edge
# The model manager and the compile cache are transport-free (the services adapt them to
# gRPC), and so is the artifact cache.
no_grpc runtime_service/service/model_manager.h runtime_service/service/model_manager.cc \
  compiler_service/service/compile_cache.h compiler_service/service/compile_cache.cc \
  artifact_cache/*.h artifact_cache/*.cc
[ $status -eq 0 ] && echo "check-layers: every include follows the layers"
exit $status
