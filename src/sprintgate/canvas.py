"""matplotlib for the plots: the Agg backend, and no trace left in the home directory.

Importing matplotlib creates ``~/.config/matplotlib`` and writes a font cache to ``~/.cache/matplotlib``.
When the user already has both (or sets ``MPLCONFIGDIR``), they are used as they are; otherwise this run
gives matplotlib a private directory for both, removed when the process exits, so a gate run leaves the
home directory as it found it (about one second more to build the font list).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path


def _user_dirs_exist() -> bool:
    home = Path.home()
    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "matplotlib"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "matplotlib"
    return config.is_dir() and cache.is_dir()


def _private_dir() -> str | None:
    if os.environ.get("MPLCONFIGDIR") or _user_dirs_exist():
        return None
    directory = tempfile.mkdtemp(prefix="sprintgate-matplotlib-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return directory


_PRIVATE = _private_dir()
if _PRIVATE is not None:
    os.environ["MPLCONFIGDIR"] = _PRIVATE
try:
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.font_manager
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullLocator

    # Both directories are resolved once and remembered; the font list is built now, in them.
    mpl.get_configdir(), mpl.get_cachedir(), matplotlib.font_manager.fontManager
finally:
    if _PRIVATE is not None:  # matplotlib has resolved its directories; the environment is the user's again
        del os.environ["MPLCONFIGDIR"]

__all__ = ["FuncFormatter", "LogLocator", "MaxNLocator", "NullLocator", "mpl", "plt"]
