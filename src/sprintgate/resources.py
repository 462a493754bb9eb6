"""Where the files that ship beside the engine are: ``sql/`` and ``fixtures/``.

In a checkout (editable install) they are the top-level folders of the repository; in a wheel they are
copied into the package (see ``[tool.hatch.build.targets.wheel.force-include]``).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent.parent


def resource_dir(name: str) -> Path:
    """The folder ``name`` (``"sql"`` or ``"fixtures"``), packaged or in the checkout."""
    for candidate in (_PACKAGE / name, _CHECKOUT / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"sprintgate: the {name}/ folder is neither in {_PACKAGE} nor in {_CHECKOUT}")
