"""The notebooks: pairs in sync, committed without outputs, and executed in smoke mode.

The execution test runs all five notebooks in order in one shared working folder, as a
student would in Colab, but on the toy city at 32 px for one epoch (COLORKERAS_SMOKE=1).
02_train runs twice, the second time with MODEL = "vit_fusion" injected after its
parameter cell (as papermill would), so the embedding cache and a multi-run report are
exercised too.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = ("01_data", "02_train", "03_evaluate", "04_historical", "05_video")
# A string literal that starts with "/" in code: a hard-coded absolute path.
_ABSOLUTE_PATH_LITERAL = re.compile(r"""["']/""")


def _cells(notebook) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(cell.cell_type, cell.source, tuple(cell.metadata.get("tags", ()))) for cell in notebook.cells]


def _code_lines(cell) -> list[str]:
    return [line for line in cell.source.splitlines() if not line.lstrip().startswith(("#", "%"))]


def test_badges_and_install_cells_use_the_repository_of_pyproject():
    import importlib.util

    spec = importlib.util.spec_from_file_location("set_repository", ROOT / "scripts" / "set_repository.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    expected = {tool.slug(tool.repository_url())}
    assert tool.derived_addresses((ROOT / "README.md").read_text()) == expected
    for path in sorted((ROOT / "notebooks").glob("*.py")):
        assert tool.derived_addresses(path.read_text()) == expected, path.name


def test_every_notebook_is_a_pair():
    found_py = {path.stem for path in NOTEBOOK_DIR.glob("*.py")}
    found_ipynb = {path.stem for path in NOTEBOOK_DIR.glob("*.ipynb")}
    assert found_py == found_ipynb == set(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_pair_is_in_sync(name):
    text = jupytext.read(NOTEBOOK_DIR / f"{name}.py")
    assert text.metadata["jupytext"]["text_representation"]["format_name"] == "percent"
    notebook = jupytext.read(NOTEBOOK_DIR / f"{name}.ipynb")
    assert _cells(text) == _cells(notebook), (
        f"notebooks/{name}.py and .ipynb differ: run `jupytext --sync notebooks/{name}.py`")
    assert notebook.metadata.get("accelerator") == "GPU"  # Colab opens it on a GPU runtime


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_ipynb_is_committed_without_outputs(name):
    raw = json.loads((NOTEBOOK_DIR / f"{name}.ipynb").read_text(encoding="utf-8"))
    for index, cell in enumerate(raw["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{name}.ipynb cell {index} has outputs"
            assert cell["execution_count"] is None, f"{name}.ipynb cell {index} has an execution count"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_layout(name):
    notebook = jupytext.read(NOTEBOOK_DIR / f"{name}.ipynb")
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    install = code[0].source
    assert '"google.colab" in sys.modules' in install and "%pip install" in install
    assert "describe_accelerator()" in code[1].source
    parameters = [cell for cell in code if "parameters" in cell.metadata.get("tags", ())]
    assert len(parameters) == 1 and parameters[0] is code[2]
    for key in ("SMOKE", "DATA_ROOT", "RUN_ROOT", "MODEL", "EPOCHS"):
        assert re.search(rf"^{key} = ", parameters[0].source, re.MULTILINE), f"{name}: no {key} parameter"
    for cell in code:
        for line in _code_lines(cell):
            assert not _ABSOLUTE_PATH_LITERAL.search(line.split("#")[0]), f"{name}: absolute path in {line!r}"


# ------------------------------------------------------------------------------------
# Execution
# ------------------------------------------------------------------------------------
def _kernel_manager(tmp_path: Path):
    """A kernel of this very interpreter, from a kernelspec folder of our own.

    Nothing is installed into the user's Jupyter folders, and whatever kernels they have
    cannot be picked up instead.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec_dir = tmp_path / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "colorkeras tests", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    specs = KernelSpecManager(kernel_dirs=[str(spec_dir.parent)], ensure_native_kernel=False)
    return KernelManager(kernel_name="python3", kernel_spec_manager=specs)


def _inject_after_parameters(notebook, source: str):
    """Papermill's convention: new values in a cell right after the parameter cell."""
    index = next(i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", ()))
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(index + 1, cell)
    return notebook


def _outputs_text(notebook) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", ()):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/markdown", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


@pytest.mark.slow
def test_notebooks_run_in_order_in_smoke_mode(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.setenv("COLORKERAS_SMOKE", "1")
    monkeypatch.setenv("COLORKERAS_WORKDIR", str(workdir))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # quiets the kernel's debugger

    plan = [("01_data", None), ("02_train", None), ("02_train", 'MODEL = "vit_fusion"'),
            ("03_evaluate", None), ("04_historical", None), ("05_video", None)]
    executed = {}
    timings = []
    for name, injected in plan:
        notebook = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
        if injected:
            _inject_after_parameters(notebook, injected)
        started = time.monotonic()
        client = NotebookClient(notebook, km=_kernel_manager(tmp_path / f"kernel-{len(timings)}"),
                                kernel_name="python3", timeout=300, startup_timeout=120,
                                resources={"metadata": {"path": str(workdir)}})
        # Raises CellExecutionError, with the traceback, on any error; the kernel is shut
        # down either way (nbclient leaves a kernel manager it was given running).
        client.execute(cleanup_kc=True)
        timings.append(f"{name}{' (' + injected + ')' if injected else ''}: {time.monotonic() - started:.0f} s")
        executed[name] = notebook
    print("notebook execution times: " + "; ".join(timings))

    runs = workdir / "runs"
    assert (workdir / "data" / "toy_city_32px" / "manifest.csv").is_file()
    assert (runs / "baseline" / "best.keras").is_file() and (runs / "vit_fusion" / "best.keras").is_file()
    assert list((workdir / "data" / "toy_city_32px" / "embeddings").glob("vit_b16-random*/train.npy"))
    assert (workdir / "report" / "report.md").is_file()
    photos = sorted((workdir / "my_photos").glob("*.jpg"))
    assert len(photos) == 3 and sorted(p.name for p in (workdir / "colorized").glob("*.jpg")) == [
        p.name for p in photos]

    videos = workdir / "videos"
    assert {p.name for p in videos.glob("toy_film_*.mp4")} >= {"toy_film_off.mp4", "toy_film_flow.mp4",
                                                                "toy_film_keyframes.mp4"}
    assert "warping error" in _outputs_text(executed["05_video"])

    evaluation = _outputs_text(executed["03_evaluate"])
    assert "grey floor" in evaluation and "vit_fusion" in evaluation and "not comparable" in evaluation
    for name in NOTEBOOKS:
        images = [o for cell in executed[name].cells for o in cell.get("outputs", ())
                  if "image/png" in o.get("data", {})]
        assert images, f"{name} showed no figure"


def test_notebook_01_names_every_notebook():
    text = (NOTEBOOK_DIR / "01_data.py").read_text()
    count = {4: "four", 5: "five", 6: "six", 7: "seven"}[len(NOTEBOOKS)]
    assert f"The {count} notebooks share one working folder" in text
    assert f"all {count} notebooks" in text
    assert all(f"`{name}`" in text for name in NOTEBOOKS)


# ------------------------------------------------------------------------------------
# The install cell (issue 22, item 17): a package file the user carries, or the repository
# once it is public; with neither, what to do instead of a failed clone
# ------------------------------------------------------------------------------------
def _install_cell(name: str) -> str:
    notebook = jupytext.read(NOTEBOOK_DIR / f"{name}.py")
    return next(cell.source for cell in notebook.cells if cell.cell_type == "code")


def _run_install_cell(source: str, cwd: Path, monkeypatch) -> list[str]:
    """The cell as Colab runs it, in ``cwd``; its %pip line records what it would install."""
    installs: list[str] = []
    pip_line = re.compile(r'^(\s*)%pip install --quiet "\{package\}"$', re.M)
    assert len(pip_line.findall(source)) == 1
    source = pip_line.sub(r"\1installs.append(package)", source)
    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    monkeypatch.chdir(cwd)
    exec(compile(source, "install-cell", "exec"), {"installs": installs})
    return installs


def _wheel(folder: Path, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"colorkeras-{version}-py3-none-any.whl"
    path.write_bytes(b"a wheel")
    return path


def test_install_cells_are_one_cell_and_agree_with_pyproject():
    import importlib.util

    spec = importlib.util.spec_from_file_location("set_repository", ROOT / "scripts" / "set_repository.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    cells = {name: _install_cell(name) for name in NOTEBOOKS}
    plain = {re.sub(r'^(\s*EXTRAS = )"[^"]*"$', r'\1""', cell, flags=re.M).replace(", with LPIPS.", ".")
             for cell in cells.values()}
    assert len(plain) == 1, "the five install cells differ beyond their extras"
    assert 'EXTRAS = "[lpips]"' in cells["03_evaluate"]
    for name in NOTEBOOKS:
        assert tool.public_flags((NOTEBOOK_DIR / f"{name}.py").read_text()) == {tool.repository_is_public()}
    # set_repository.py marks the address public in both places.
    text = tool.mark_public(cells["01_data"] + "\nrepository-public = false\n")
    assert "REPOSITORY_IS_PUBLIC = True" in text and "repository-public = true" in text


@pytest.mark.parametrize("name", ["01_data", "03_evaluate"])
def test_the_install_cell_installs_a_carried_package_or_says_what_to_do(name, tmp_path, monkeypatch):
    source = _install_cell(name)
    extras = "[lpips]" if name == "03_evaluate" else ""
    assert "REPOSITORY_IS_PUBLIC = False" in source  # the address is a placeholder today
    # Nothing carried: no clone of the placeholder, but the way to build and bring a package.
    with pytest.raises(SystemExit, match=r"run `python -m build`; then upload dist/colorkeras-\*\.whl"):
        _run_install_cell(source, tmp_path, monkeypatch)
    # A wheel kept on Drive, in My Drive/colorkeras.
    on_drive = _wheel(tmp_path / "drive" / "MyDrive" / "colorkeras", "0.1.0")
    assert _run_install_cell(source, tmp_path, monkeypatch) == [f"colorkeras{extras} @ {on_drive.as_uri()}"]
    # A newer one uploaded to the session wins; a source archive counts too.
    archive = tmp_path / "colorkeras-0.2.0.tar.gz"
    archive.write_bytes(b"a source archive")
    os.utime(on_drive, (1_000_000, 1_000_000))
    assert _run_install_cell(source, tmp_path, monkeypatch) == [f"colorkeras{extras} @ {archive.as_uri()}"]
    # Once the address is public, a session without a package file clones it.
    public = source.replace("REPOSITORY_IS_PUBLIC = False", "REPOSITORY_IS_PUBLIC = True")
    empty = tmp_path / "empty"
    empty.mkdir()
    [repository] = re.findall(r'^\s*REPOSITORY = "([^"]+)"', source, re.M)
    assert _run_install_cell(public, empty, monkeypatch) == [f"colorkeras{extras} @ git+{repository}"]
