"""Where the files that ship beside the engine are: ``sql/``.

In a checkout (editable install) it is the top-level folder of the repository; in a wheel it is
copied into the package (see ``[tool.hatch.build.targets.wheel.force-include]``).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent.parent


def resource_dir(name: str) -> Path:
    """The folder ``name`` (``"sql"``), packaged or in the checkout."""
    for candidate in (_PACKAGE / name, _CHECKOUT / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"sprintgate: the {name}/ folder is neither in {_PACKAGE} nor in {_CHECKOUT}")
