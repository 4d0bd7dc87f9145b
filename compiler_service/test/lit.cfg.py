# lit configuration for kiln's compiler tests: every *.mlir file here with RUN lines.
import os

import lit.formats

config.name = "kiln-compiler"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir"]
config.test_source_root = config.kiln_test_source_dir
# Outputs (%t files, Output/) go to the build tree, never the source tree: lit.site.cfg.py sets
# kiln_test_exec_root to its own (build) directory.
config.test_exec_root = config.kiln_test_exec_root
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py.in"]
# Stricter FileCheck everywhere: variables captured under one CHECK-LABEL do not leak into the
# next, and a --check-prefix that no line uses is an error (a typo'd prefix checks nothing).
config.environment["FILECHECK_OPTS"] = "-enable-var-scope --allow-unused-prefixes=false"
config.environment["PATH"] = os.pathsep.join(
    [config.kiln_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", "")])
