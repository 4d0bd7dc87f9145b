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
rule metrics runtime_service compiler_service server client_cli
rule runtime_service compiler_service server client_cli
rule compiler_service server client_cli
rule client_cli server compiler_service
# The model manager is transport-free: no gRPC in it (the services adapt it to gRPC).
for f in runtime_service/service/model_manager.h runtime_service/service/model_manager.cc; do
  hits=$(grep -nE '^#include "(grpcpp/|grpc/|.*\.grpc\.pb\.h|runtime_service/service/grpc_)' "$f")
  if [ -n "$hits" ]; then
    echo "check-layers: $f must not include gRPC:"
    echo "$hits"
    status=1
  fi
done
[ $status -eq 0 ] && echo "check-layers: every include follows the layers"
exit $status
