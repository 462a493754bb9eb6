"""Root conftest: kept tiny. The gate itself is the `sprintgate` pytest plugin (src/sprintgate/plugin.py)."""
