"""Point the Colab badges and the notebooks' install cells at another repository (a fork).

The repository's address is kept in one place, ``[project.urls] Repository`` in
pyproject.toml; the README's badges and each notebook's install cell are derived from it.
This script changes that one place and rewrites the derived addresses to match, marks the
address as public (``[tool.colorkeras] repository-public`` in pyproject.toml and
``REPOSITORY_IS_PUBLIC`` in each install cell: only then does a cell clone from it), then
re-syncs the notebooks' .ipynb twins:

    python scripts/set_repository.py https://github.com/YOU/colorkeras

Until then the address is a placeholder, and an install cell installs a package file the
user brings (``python -m build``; see the README's Notebooks section) or says what to do.
``tests/test_notebooks.py`` checks that the derived addresses and the flag agree with
pyproject.toml.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_GITHUB = re.compile(r"^https://github\.com/(?P<slug>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)/?$")


def repository_url() -> str:
    """The address in pyproject.toml's [project.urls] Repository."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def repository_is_public() -> bool:
    """pyproject.toml's ``[tool.colorkeras] repository-public``: whether the address is real."""
    document = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return bool(document.get("tool", {}).get("colorkeras", {}).get("repository-public", False))


def public_flags(text: str) -> set[bool]:
    """The values of the install cells' ``REPOSITORY_IS_PUBLIC`` in a notebook's text."""
    return {value == "True" for value in re.findall(r"^\s*REPOSITORY_IS_PUBLIC = (True|False)\b", text, re.M)}


def mark_public(text: str) -> str:
    """The text with the address marked public (an install cell's flag, pyproject's key)."""
    text = re.sub(r"^(\s*REPOSITORY_IS_PUBLIC = )False\b", r"\1True", text, flags=re.M)
    return re.sub(r"^repository-public = false$", "repository-public = true", text, flags=re.M)


def slug(url: str) -> str:
    match = _GITHUB.match(url)
    if not match:
        raise SystemExit(f"expected https://github.com/OWNER/NAME, got {url!r}")
    return match["slug"]


def derived_addresses(text: str) -> set[str]:
    """The repository slugs a text's Colab badges and pip install lines point at."""
    badges = re.findall(r"colab\.research\.google\.com/github/([^/]+/[^/]+)/blob/", text)
    installs = re.findall(r"git\+https://github\.com/([^/\"'\s]+/[^/\"'\s]+)", text)
    cells = re.findall(r"REPOSITORY = \"https://github\.com/([^/\"]+/[^/\"]+)\"", text)
    return set(badges) | set(installs) | set(cells)


def _rewrite(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    text = text.replace(f"colab.research.google.com/github/{old}/", f"colab.research.google.com/github/{new}/")
    text = text.replace(f"git+https://github.com/{old}", f"git+https://github.com/{new}")
    text = text.replace(f"github.com/{old}", f"github.com/{new}")
    path.write_text(mark_public(text))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    old, new = slug(repository_url()), slug(argv[0])
    for path in [ROOT / "pyproject.toml", ROOT / "README.md", *sorted((ROOT / "notebooks").glob("*.py"))]:
        _rewrite(path, old, new)
    subprocess.run([sys.executable, "-m", "jupytext", "--sync", *sorted(str(p) for p in (ROOT / "notebooks").glob("*.py"))],
                   check=True, cwd=ROOT)
    print(f"badges, install cells and pyproject.toml now point at https://github.com/{new}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
