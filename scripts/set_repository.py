"""Point the Colab badges and the notebooks' install cells at another repository (a fork).

The repository's address is kept in one place, ``[project.urls] Repository`` in
pyproject.toml; the README's badges and each notebook's install cell are derived from it.
This script changes that one place and rewrites the derived addresses to match, then
re-syncs the notebooks' .ipynb twins:

    python scripts/set_repository.py https://github.com/YOU/colorkeras

``tests/test_notebooks.py`` checks that the derived addresses agree with pyproject.toml.
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


def slug(url: str) -> str:
    match = _GITHUB.match(url)
    if not match:
        raise SystemExit(f"expected https://github.com/OWNER/NAME, got {url!r}")
    return match["slug"]


def derived_addresses(text: str) -> set[str]:
    """The repository slugs a text's Colab badges and pip install lines point at."""
    badges = re.findall(r"colab\.research\.google\.com/github/([^/]+/[^/]+)/blob/", text)
    installs = re.findall(r"git\+https://github\.com/([^/\"'\s]+/[^/\"'\s]+)", text)
    return set(badges) | set(installs)


def _rewrite(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    text = text.replace(f"colab.research.google.com/github/{old}/", f"colab.research.google.com/github/{new}/")
    text = text.replace(f"git+https://github.com/{old}", f"git+https://github.com/{new}")
    text = text.replace(f"github.com/{old}", f"github.com/{new}")
    path.write_text(text)


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
