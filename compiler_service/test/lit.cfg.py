# lit configuration for kiln's compiler tests: every *.mlir file here with RUN lines.
import os

import lit.formats

config.name = "kiln-compiler"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir"]
config.test_source_root = config.kiln_test_source_dir
config.test_exec_root = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else None
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py.in"]
config.environment["PATH"] = os.pathsep.join(
    [config.kiln_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", "")])
