"""What a goal test gets: ``gate.check(GOAL)`` returns on PASS and raises on FAIL or INCONCLUSIVE."""

from __future__ import annotations

from collections.abc import Callable

from sprintgate.goals import Goal
from sprintgate.preconditions import Precondition
from sprintgate.results import GoalResult
from sprintgate.verdict import Verdict


class GoalNotMet(AssertionError):
    """A goal, guardrail or precondition FAILED; the message is its reason as a sentence."""

    def __init__(self, result: GoalResult) -> None:
        super().__init__(f"{result.title} ({result.kind.value}): FAIL. {result.reason}")
        self.result = result


class GoalInconclusive(Exception):
    """The evidence does not decide the check either way."""

    def __init__(self, result: GoalResult) -> None:
        super().__init__(f"{result.title} ({result.kind.value}): INCONCLUSIVE. {result.reason}")
        self.result = result


class Gate:
    """The judged checks of one run, as the ``gate`` fixture hands them to goal tests."""

    def __init__(
        self, result: Callable[[str], GoalResult], seen: Callable[[GoalResult], None] = lambda _: None
    ) -> None:
        self._result = result
        self._seen = seen

    def result(self, check: Goal | Precondition) -> GoalResult:
        return self._result(check.id if isinstance(check, Goal) else check.name)

    def check(self, check: Goal | Precondition) -> GoalResult:
        """Judge ``check``: return on PASS, raise :class:`GoalNotMet` or :class:`GoalInconclusive`."""
        result = self.result(check)
        self._seen(result)
        if result.verdict is Verdict.FAIL:
            raise GoalNotMet(result)
        if result.verdict is Verdict.INCONCLUSIVE:
            raise GoalInconclusive(result)
        return result
