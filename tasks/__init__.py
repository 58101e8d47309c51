"""The applications built on kerasrnn, one package each (`docs/architecture.md`)."""

import sys

if sys.argv[:1] == ["-m"]:
    # `python -m tasks.<task> ...`: before TensorFlow or JAX is loaded, malloc is told to keep
    # the memory each training step frees, and TensorFlow starts quietly (unless --verbose).
    from tasks.cli import keep_freed_memory, quiet_tensorflow

    keep_freed_memory()
    if "--verbose" not in sys.argv:
        quiet_tensorflow()
