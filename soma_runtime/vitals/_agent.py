"""What the engine remembers per agent and per context, between events (``engine``, ``state``)."""

from __future__ import annotations

from typing import Any, Final

from .baseline import Baseline, BaselineParams
from .followup import OpenFiring
from .patterns import Budget, PatternState
from .pressure import Mode
from .signals import Intent, SignalWindow

ZERO5: Final = (0.0, 0.0, 0.0, 0.0, 0.0)
NONE5: Final = (False, False, False, False, False)

# (tool, call key, command?, path, access, words of the tool name and argument values,
#  the arguments as given: a lesson keeps them, shortened, only when the call fails)
CallInfo = tuple[str, str, bool, str | None, str | None, list[str], dict[str, Any]]


class Context:
    """A session (or an agent's session-less actions): its intent and its budget."""

    __slots__ = ("budget", "intent")

    def __init__(self, intent: Intent | None = None, budget: Budget | None = None) -> None:
        self.intent = intent
        self.budget = budget if budget is not None else Budget()


class Agent:
    __slots__ = (
        "actions",
        "agent_id",
        "baseline",
        "effective",
        "fails",
        "measured",
        "mode",
        "open_firings",
        "patterns",
        "pressure",
        "ps",
        "seq",
        "session_id",
        "values",
        "window",
        "zs",
    )

    def __init__(self, agent_id: str, window: int, params: BaselineParams) -> None:
        self.agent_id = agent_id
        self.session_id: str | None = None
        self.window = SignalWindow(window)
        self.baseline = Baseline(params)
        self.patterns = PatternState()
        self.actions = 0
        self.seq = 0
        self.pressure = 0.0
        self.effective = 0.0
        self.mode = Mode.OBSERVE
        self.values: tuple[float, ...] = ZERO5
        self.zs: tuple[float, ...] = ZERO5
        self.ps: tuple[float, ...] = ZERO5
        self.measured: tuple[bool, ...] = NONE5
        self.open_firings: list[OpenFiring] = []  # firings awaiting outcomes (``followup``)
        # tool -> [failed calls since it last succeeded, last error, last failed args] (``lessons``)
        self.fails: dict[str, list[Any]] = {}
