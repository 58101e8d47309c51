"""The applications built on kerasrnn, one package each (`docs/architecture.md`)."""

import sys

if sys.argv[:1] == ["-m"] and "--verbose" not in sys.argv:
    # `python -m tasks.<task> ...` without --verbose: TensorFlow starts quietly.
    from tasks.cli import quiet_tensorflow

    quiet_tensorflow()
