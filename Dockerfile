# sprintgate in a container: the gate as a CI job runs it, with the team's checkout mounted at /work.
#
#   docker build -t sprintgate .
#   docker run --rm -v "$PWD:/work" --user "$(id -u):$(id -g)" \
#       -e STAGING_DATABASE_URL -e SPRINTGATE_SIGNING_KEY \
#       sprintgate --env=staging --change-record=CHG-1234 --junitxml=reports/staging/junit.xml
#
# /work is the folder that holds goals/ (and pyproject.toml with [tool.sprintgate]), so the command is
# `pytest goals/` there and the reports land in reports/<env>/ on the host; keep reports/<env>/history/
# between runs of the same change record (docs/ci/README.md). `-e NAME` without a value passes the
# host's variable, so no secret appears on the command line. `--user` makes the reports the host
# user's files; without it the image's own user (uid 10001) runs the gate and needs write access to
# the mounted folder. The embedded demo database (`--env=demo`, the default) needs that own user:
# PostgreSQL's initdb refuses a uid with no account. The image has no Java or Node.js: build the HTML
# report (python -m sprintgate.html_report reports/<env>) where they are, e.g. in the CI job.
#
# Never built where it was written: that machine has no Docker engine. tests/test_ci_recipes.py only
# parses it and checks its base image, its non-root USER and its ENTRYPOINT.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp/matplotlib

# What the wheel is built from: its metadata (pyproject.toml names README.md), the engine and its SQL.
COPY pyproject.toml README.md /tmp/sprintgate/
COPY src /tmp/sprintgate/src
COPY sql /tmp/sprintgate/sql
RUN pip install /tmp/sprintgate \
 && rm -rf /tmp/sprintgate \
 && useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin sprintgate

USER sprintgate
WORKDIR /work
ENTRYPOINT ["sprintgate"]
