"""The package's shape: floors, cycles, sizes, imports, names (README, "Layout").

These read the source (``ast``), so they fail the moment a change breaks the layout.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "colorkeras"
REPO = PACKAGE.parent

# The floors, lowest first; an import may only go to a lower floor or stay in its own
# package. The leaves sit under everything; the faces on top.
FLOORS = {
    "leaves": 0, "data": 1, "models": 1, "training": 2, "inference": 3, "evaluation": 4, "faces": 5,
}
LEAVES = {"color", "images", "fileio", "errors", "runtime", "moved", "__init__"}
FACES = {"app", "cli", "demo", "notebook"}
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60
# Declarative tables allowed past MAX_FUNCTION_LINES (name -> why).
LONG_TABLES: dict[str, str] = {}
# Third-party modules heavy or optional enough to import inside the function that needs them.
HEAVY = {"keras", "tensorflow", "jax", "torch", "torchvision", "lpips", "cv2", "av", "gradio",
         "h5py", "keras_hub", "matplotlib", "nbclient", "jupytext", "playwright", "safetensors"}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = modules()
TREES = {name: ast.parse(path.read_text(), filename=str(path)) for name, path in MODULES.items()}


def package_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or (len(parts) == 2 and parts[1] in LEAVES):
        return "leaves"
    if len(parts) == 2 and parts[1] in FACES:
        return "faces"
    return parts[1]


def internal_imports(module: str, *, top_level_only: bool = False):
    """(target module, line, at module top?) for each colorkeras import in ``module``."""
    tree = TREES[module]
    top = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("colorkeras"):
            targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                       for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names if a.name.startswith("colorkeras")]
        else:
            continue
        at_top = id(node) in top
        if top_level_only and not at_top:
            continue
        for target in targets:
            if target in MODULES and target != module:
                yield target, node.lineno, at_top


def test_every_module_is_on_a_floor():
    assert {package_of(m) for m in MODULES} <= set(FLOORS), sorted({package_of(m) for m in MODULES})


def test_imports_only_go_down_a_floor():
    wrong = []
    for module in MODULES:
        here = package_of(module)
        for target, line, _ in internal_imports(module):
            there = package_of(target)
            if there != here and FLOORS[there] >= FLOORS[here]:
                wrong.append(f"{module}:{line} imports {target} ({here} -> {there})")
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    graph = {m: {t for t, _, _ in internal_imports(m)} - {"colorkeras"} for m in MODULES}
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_size(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{MODULES[module]} has {lines} lines"


def long_functions():
    for module, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES and f"{module}.{node.name}" not in LONG_TABLES:
                    yield f"{module}.{node.name} ({length} lines, {MODULES[module].name}:{node.lineno})"


def test_no_long_functions():
    found = list(long_functions())
    assert not found, "\n".join(found)


def heavy_at_top(module: str, seen=None) -> bool:
    """Does importing ``module`` import a HEAVY dependency (at module top, transitively)?"""
    seen = set() if seen is None else seen
    if module in seen:
        return False
    seen.add(module)
    for node in TREES[module].body:
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] in HEAVY for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in HEAVY:
            return True
    return any(heavy_at_top(t, seen) for t, _, _ in internal_imports(module, top_level_only=True))


def test_imports_inside_functions_only_put_off_heavy_modules():
    wrong = [f"{module}:{line} imports {target} inside a function"
             for module in MODULES for target, line, at_top in internal_imports(module)
             if not at_top and not heavy_at_top(target)]
    assert not wrong, "\n".join(wrong)


def test_no_private_name_used_outside_its_module():
    wrong = []
    for module, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("colorkeras"):
                wrong += [f"{module}:{node.lineno} imports {node.module}.{a.name}"
                          for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
    assert not wrong, "\n".join(wrong)


def test_one_spelling_of_colour_in_identifiers():
    wrong = []
    for module, tree in TREES.items():
        for node in ast.walk(tree):
            names = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, ast.Name):
                names = [node.id]
            elif isinstance(node, ast.Attribute):
                names = [node.attr]
            elif isinstance(node, ast.arg):
                names = [node.arg]
            elif isinstance(node, ast.keyword) and node.arg:
                names = [node.arg]
            wrong += [f"{module}:{node.lineno} {n}" for n in names if "colour" in n.lower()]
    assert not wrong, "\n".join(sorted(set(wrong)))


TOP_FOLDERS = ("colorkeras/", "tests/", "bench/", "results/", "notebooks/", "scripts/", "docs/", "data/")
FILE_MENTION = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w-]+\.(?:md|py|csv|toml|json))\b")
REPO_FILES = {p.name for p in REPO.rglob("*") if ".venv" not in p.parts and ".git" not in p.parts}


def missing_mention(module: str, mention: str) -> bool:
    """A repository path (starts with a top folder) that does not exist, or a document
    (UPPER_CASE.md, as README.md) that no file in the repository is called."""
    if mention.startswith(TOP_FOLDERS):
        return not (REPO / mention).exists()
    name = mention.rsplit("/", 1)[-1]
    return name.endswith(".md") and name[:-3].isupper() and name not in REPO_FILES


def test_docstrings_point_only_to_files_in_the_repository():
    wrong = []
    for module, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node) or ""
                wrong += [f"{module}: {m}" for m in FILE_MENTION.findall(doc) if missing_mention(module, m)]
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_old_import_paths_still_work_for_one_release_with_a_warning():
    import subprocess
    import sys

    code = ("import warnings; warnings.simplefilter('error')\n"
            "import colorkeras.evaluation.metrics as new\n"
            "try:\n    import colorkeras.metrics\nexcept DeprecationWarning as w:\n    print(w)\n"
            "warnings.simplefilter('ignore')\n"
            "from colorkeras import metrics\n"
            "print(metrics.psnr is new.psnr, metrics.colorfulness is new.colorfulness)\n"
            "from colorkeras.data.media import add_video_stream\n"
            "import colorkeras.video as old_video\n"
            "warnings.simplefilter('error')\n"
            "try:\n    old_video.add_video_stream\nexcept DeprecationWarning as w:\n    print(w)\n"
            "warnings.simplefilter('ignore')\n"
            "print(old_video.add_video_stream is add_video_stream)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == [
        "colorkeras.metrics moved to colorkeras.evaluation.metrics; the old path goes in colorkeras 0.3",
        "True True",
        "colorkeras.video.add_video_stream moved to colorkeras.data.media.add_video_stream; "
        "the old path goes in colorkeras 0.3",
        "True"]


def test_every_name_that_moved_is_where_the_table_says():
    import importlib

    from colorkeras.moved import MOVED_NAMES

    missing = [f"{module}.{name}" for module, name in MOVED_NAMES.values()
               if not hasattr(importlib.import_module(f"colorkeras.{module}"), name)]
    assert not missing
