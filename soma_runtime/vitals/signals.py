"""The five raw signals of an agent, computed over a sliding window of its last actions.

An *action* is a finished tool call or model call (``tool.succeeded|failed``,
``llm.succeeded|failed``). Over the window of the last ``window`` (10) actions:

* ``uncertainty`` = hedge_weight · (hedges / words in the model output texts of the window)
  + (repeated calls / window). A repeat is an action identical to one still in the window: the
  same tool with the same arguments, or the same model output text — an agent going round in
  circles. The hedge lexicon is in ``text``.
* ``drift`` = 1 − cosine(intent vector, sum of the window's action vectors). The intent is
  the session's (``session.started`` payload ``intent``, or its first task text); an action's
  text is the model's output (or error), or the tool's name and JSON arguments (and error).
  No intent known → 0 (nothing to drift from).
* ``error_rate`` = failed actions in the window / window size. Dividing by the full size, even
  while fewer actions have been seen, keeps one early failure from reading as a 100% rate.
* ``token_usage`` = tokens (input, cached parts included, + output) of the window's actions / actions in the
  window; tool calls use none, so this is the agent's token velocity per action.
* ``cost`` = dollars of the window's actions / actions in the window.

Counts and costs are kept as exact integers (cost in nano-dollars), and the window's vector,
its squared norm and its dot product with the intent are maintained incrementally with
integer arithmetic: sliding a million actions through a window accumulates no rounding.

The window's vector R is the sum of its actions' binary vectors (sets of buckets S_k), so
R·intent = Σ_k |I ∩ S_k| and |R|² = Σ_k |S_k| + 2·Σ_{j<k} |S_j ∩ S_k|. Both are kept from set
intersections — which run in C at a few nanoseconds per element, where maintaining a bucket
→ count map costs a Python-level step per bucket. Each action in the window carries its
overlap with the intent and the total of its overlaps with the actions that entered after it:
exactly what must be subtracted when it leaves (it is then the oldest).
"""

from __future__ import annotations

import math
from collections import deque
from operator import add
from typing import Any

from . import text


class Intent:
    """A session's intent as a binary hashed vector (a set of buckets)."""

    __slots__ = ("features", "text")

    def __init__(self, intent_text: str) -> None:
        self.text = intent_text
        self.features = frozenset(text.features(text.words(text.normalize(intent_text)), text.INTENT_WORDS))


class Action:
    """What the signals and patterns need to know about one finished call."""

    __slots__ = (
        "access",
        "call_key",
        "command",
        "cost_nanos",
        "failed",
        "features",
        "hedges",
        "index",
        "model",
        "path",
        "repeat",
        "tokens",
        "tool",
        "words",
    )

    def __init__(
        self,
        model: bool,
        failed: bool,
        tool: str,
        call_key: str | None,
        features: set[int],
        tokens: int,
        cost_nanos: int,
        hedges: int,
        words: int,
        command: bool,
        path: str | None,
        access: str | None,
    ) -> None:
        # Positional only in practice: one is built per action, keyword passing costs.
        self.index = 0  # the agent's action number, from 1 (set by the engine)
        self.model = model  # a model call (else a tool call)
        self.failed = failed
        self.tool = tool  # the tool's name, or "llm" for a model call
        self.call_key = call_key  # identity for repeat detection (None: never a repeat)
        self.features = features  # the binary vector of its text: a set of buckets
        self.tokens = tokens
        self.cost_nanos = cost_nanos
        self.hedges = hedges  # hedges in the model output (model calls only)
        self.words = words  # words of the model output (model calls only)
        self.command = command  # a command tool (isolation "command")
        self.path = path
        self.access = access  # "read", "write" or None
        self.repeat = False  # set when pushed into a window

    def to_json(self) -> list[Any]:
        return [
            self.model,
            self.failed,
            self.tool,
            self.call_key,
            sorted(self.features),
            self.tokens,
            self.cost_nanos,
            self.hedges,
            self.words,
            self.command,
            self.path,
            self.access,
            self.index,
            self.repeat,
        ]

    @classmethod
    def from_json(cls, data: list[Any]) -> Action:
        model, failed, tool, call_key, features, tokens, cost, hedges, words, command, path, access = data[
            :12
        ]
        found = {int(b) for b in features}
        action = cls(model, failed, tool, call_key, found, tokens, cost, hedges, words, command, path, access)
        action.index, action.repeat = data[12], data[13]
        return action


class SignalWindow:
    """The last ``size`` actions of one agent and their running sums."""

    __slots__ = (
        "actions",
        "cost_nanos",
        "dot",
        "errors",
        "feature_sets",
        "hedges",
        "intent",
        "keys",
        "later",
        "norm2",
        "on_intent",
        "repeats",
        "size",
        "tokens",
        "words",
    )

    def __init__(self, size: int) -> None:
        self.size = size
        self.actions: deque[Action] = deque()
        # Aligned with ``actions`` (plain lists, updated with C-level map(): a window holds
        # ten actions, so popping the front is cheap): each action's feature set, its overlap
        # with the intent, and the sum of its overlaps with the actions that entered after it.
        self.feature_sets: list[set[int]] = []
        self.on_intent: list[int] = []
        self.later: list[int] = []
        # Sums over the window (tokens, cost and the hedge counts only come from model calls).
        self.errors = 0
        self.repeats = 0
        self.hedges = 0
        self.words = 0
        self.tokens = 0
        self.cost_nanos = 0
        self.keys: dict[str, int] = {}  # call key -> occurrences in the window
        self.norm2 = 0  # |R|²
        self.dot = 0  # R · intent
        self.intent: Intent | None = None

    def set_intent(self, intent: Intent | None) -> None:
        if intent is self.intent:
            return
        self.intent = intent
        if intent is None:
            self.on_intent = [0] * len(self.feature_sets)
        else:
            self.on_intent = list(map(len, map(intent.features.intersection, self.feature_sets)))
        self.dot = sum(self.on_intent)

    def push(self, action: Action, *, restoring: bool = False) -> None:
        """Slide ``action`` in (and the oldest action out once the window is full).

        ``restoring``: the action comes from exported state and keeps its recorded repeat
        flag (it was judged against actions that have since left the window)."""
        actions = self.actions
        if len(actions) >= self.size:
            self._remove(actions.popleft())
        key = action.call_key
        if key is not None:
            keys = self.keys
            seen = keys.get(key, 0)
            if not restoring:
                action.repeat = seen > 0
            keys[key] = seen + 1
        self.errors += action.failed
        self.repeats += action.repeat
        if action.model:
            self.hedges += action.hedges
            self.words += action.words
            self.tokens += action.tokens
            self.cost_nanos += action.cost_nanos
        found = action.features
        intent = self.intent
        on_intent = len(intent.features.intersection(found)) if intent is not None else 0
        self.dot += on_intent
        feature_sets = self.feature_sets
        if found and feature_sets:
            overlaps = list(map(len, map(found.intersection, feature_sets)))
            self.later = list(map(add, self.later, overlaps))
            self.norm2 += len(found) + 2 * sum(overlaps)
        else:
            self.norm2 += len(found)
        actions.append(action)
        feature_sets.append(found)
        self.on_intent.append(on_intent)
        self.later.append(0)

    def _remove(self, action: Action) -> None:
        key = action.call_key
        if key is not None:
            left = self.keys[key] - 1
            if left:
                self.keys[key] = left
            else:
                del self.keys[key]
        self.errors -= action.failed
        self.repeats -= action.repeat
        if action.model:
            self.hedges -= action.hedges
            self.words -= action.words
            self.tokens -= action.tokens
            self.cost_nanos -= action.cost_nanos
        del self.feature_sets[0]
        self.dot -= self.on_intent.pop(0)
        self.norm2 -= len(action.features) + 2 * self.later.pop(0)

    def values(self, hedge_weight: float) -> tuple[float, float, float, float, float]:
        """(uncertainty, drift, error_rate, token_usage, cost) — see the module docstring."""
        size = self.size
        n = len(self.actions)
        uncertainty = hedge_weight * self.hedges / (self.words or 1) + self.repeats / size
        intent = self.intent
        if intent is None or not intent.features or not self.norm2:
            drift = 0.0
        else:
            drift = 1.0 - self.dot / math.sqrt(len(intent.features) * self.norm2)
            if drift < 0.0:  # identical vectors: the square root may round down by an ulp
                drift = 0.0
        if not n:
            return uncertainty, drift, 0.0, 0.0, 0.0
        return uncertainty, drift, self.errors / size, self.tokens / n, self.cost_nanos / (n * 1e9)

    def to_json(self) -> list[Any]:
        return [a.to_json() for a in self.actions]

    @classmethod
    def from_json(cls, size: int, data: list[Any], intent: Intent | None) -> SignalWindow:
        """Rebuild a window (the sums are exact integers: rebuilding gives the same state)."""
        window = cls(size)
        window.intent = intent
        for item in data:
            window.push(Action.from_json(item), restoring=True)
        return window
