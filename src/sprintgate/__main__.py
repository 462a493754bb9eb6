"""``python -m sprintgate [pytest args]``: the ``sprintgate`` command (``sprintgate.cli``)."""

from sprintgate.cli import main

raise SystemExit(main())
