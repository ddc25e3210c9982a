"""Makes `ansible_collections.lbstack.ha` and the tests' helpers importable for the unit tests, on their own.

The repository is the collection. scripts/bootstrap links it as .collections/ansible_collections/lbstack/ha;
when that link is missing (a fresh clone), a link in a temporary directory stands in for it.
"""

from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _collections_root() -> Path:
    root = REPO / ".collections"
    link = root / "ansible_collections" / "lbstack" / "ha"
    if (link / "galaxy.yml").is_file() and link.resolve() == REPO:
        return root
    root = Path(tempfile.mkdtemp(prefix="lbstack-collections-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)  # removes the link, never what it points to
    (root / "ansible_collections" / "lbstack").mkdir(parents=True)
    (root / "ansible_collections" / "lbstack" / "ha").symlink_to(REPO, target_is_directory=True)
    return root


_ROOT = str(_collections_root())
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
# The tests' own helpers (real_nginx.py) sit beside this file.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))
