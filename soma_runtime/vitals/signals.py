"""The five raw signals of an agent, computed over a sliding window of its last actions.

An *action* is a finished tool call or model call (``tool.succeeded|failed``,
``llm.succeeded|failed``). Over the window of the last ``window`` (10) actions:

* ``uncertainty`` = hedge_weight · (hedges / words in the model output texts of the window)
  + (repeats + stuck calls) / window. A *repeat* is going round in circles: a tool call
  identical (same tool, same arguments) to one still in the window whose last outcome was a
  failure — retrying what failed —, or a model output identical to one still in the window.
  Re-running or re-reading what *worked* is how work gets checked, and is not counted. A
  *stuck* call is a failed tool call identical to the agent's previous tool call, which
  failed too (model calls in between do not matter): the same failing action, again, with
  nothing tried in between — evidence in itself, so it counts a second time. A retry storm
  reads 2.0; a test re-run after an edit that still fails, 0.1. The hedge lexicon is in
  ``text``.
* ``drift`` = 1 − cosine(intent vector, sum of the window's action vectors). The intent is
  the session's (``session.started`` payload ``intent``, or its first task text); an action's
  text is the model's output (or error), or the tool's name and its arguments' values (and
  error) — not their names, which every call of a tool shares. Function words ("the", "and")
  are left out of every vector (``text``).
* ``error_rate`` = failed calls among the agent's last ``window`` *calls* / window — its tool
  calls, and its model calls that failed (a model call that keeps failing is not working
  either). Successful model calls are not calls that can fail at the work: counting them
  would halve the failure ratio of an agent whose every tool call fails. Dividing by the full
  size, even while fewer calls have been made, keeps one early failure from reading as 100%.
* ``token_usage`` = tokens (input, cached parts included, + output) of the window's actions /
  actions in the window; tool calls use none, so this is the agent's token velocity per action.
* ``cost`` = dollars of the window's actions / actions in the window.

A signal *has a reading* (``measured``) only when there is something to measure: drift
once there is an intent and the window holds ``DRIFT_SAMPLE`` (3) different calls, error_rate
once the agent has made a call,
token_usage once a model call of the agent reported tokens, cost once one cost something.
Without one it takes no part in the agent's pressure: an agent whose model calls Soma never
sees (native runs, Claude Code's hooks) does not have calm token use — it has none to judge,
and averaging a zero in would hide its distress (with two of five signals at zero, a storm
that saturates the other three could never reach BLOCK).

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
from typing import Any, Final

from . import text

DRIFT_SAMPLE: Final = 3
"""Drift is read once the window holds this many different calls: what a window of one call,
however often repeated, is about says little about the agent's work (uncertainty says how it
is stuck), and an agent's first call alone may share no word with its intent."""
HEDGE_SAMPLE: Final = 50
"""Hedge density is read over at least this many words: one hedge in the only short sentence
the agent has written is not yet a habit (10 · 1/15 words would read 0.67, three prior σ)."""


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
        "stuck",
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
        self.stuck = False  # likewise

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
            self.stuck,
        ]

    @classmethod
    def from_json(cls, data: list[Any]) -> Action:
        model, failed, tool, call_key, features, tokens, cost, hedges, words, command, path, access = data[
            :12
        ]
        found = {int(b) for b in features}
        action = cls(model, failed, tool, call_key, found, tokens, cost, hedges, words, command, path, access)
        action.index, action.repeat, action.stuck = data[12], data[13], data[14]
        return action


class SignalWindow:
    """The last ``size`` actions of one agent and their running sums, its last ``size``
    calls' outcomes (error_rate), and what the signals need to know of its history."""

    __slots__ = (
        "actions",
        "call_errors",
        "calls",
        "cost_nanos",
        "dot",
        "feature_sets",
        "hedges",
        "intent",
        "keys",
        "last_call",
        "later",
        "norm2",
        "on_intent",
        "repeats",
        "seen_cost",
        "seen_tokens",
        "size",
        "stuck",
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
        self.repeats = 0
        self.stuck = 0
        self.hedges = 0
        self.words = 0
        self.tokens = 0
        self.cost_nanos = 0
        self.keys: dict[str, list[Any]] = {}  # call key -> [occurrences in the window, last failed]
        self.norm2 = 0  # |R|²
        self.dot = 0  # R · intent
        self.intent: Intent | None = None
        # Beyond the action window: the outcomes of the last ``size`` calls (failed or not),
        # the agent's previous tool call (its key, failed), and whether any model call has
        # reported tokens / cost (the scale signals have readings from then on).
        self.calls: deque[bool] = deque()
        self.call_errors = 0
        self.last_call: tuple[str | None, bool] | None = None
        self.seen_tokens = False
        self.seen_cost = False

    def set_intent(self, intent: Intent | None) -> None:
        if intent is self.intent:
            return
        self.intent = intent
        if intent is None:
            self.on_intent = [0] * len(self.feature_sets)
        else:
            self.on_intent = list(map(len, map(intent.features.intersection, self.feature_sets)))
        self.dot = sum(self.on_intent)

    def push(self, action: Action) -> None:
        """Slide ``action`` in (and the oldest action out once the window is full), judging
        whether it is a repeat or a stuck call, and count it as a call if it is one."""
        actions = self.actions
        if len(actions) >= self.size:
            self._remove(actions.popleft())
        key = action.call_key
        failed = action.failed
        if key is not None:
            seen = self.keys.get(key)
            action.repeat = seen is not None and (action.model or seen[1])
        if not action.model:
            action.stuck = failed and self.last_call == (key, True)
            self.last_call = (key, failed)
            self._call(failed)
        elif failed:
            self._call(True)
        else:
            self.seen_tokens = self.seen_tokens or action.tokens > 0
            self.seen_cost = self.seen_cost or action.cost_nanos > 0
        self._enter(action)

    def _call(self, failed: bool) -> None:
        calls = self.calls
        if len(calls) >= self.size:
            self.call_errors -= calls.popleft()
        calls.append(failed)
        self.call_errors += failed

    def _enter(self, action: Action) -> None:
        """The action window's part of ``push`` (there is room): the sums, with the action's
        flags as set."""
        actions = self.actions
        key = action.call_key
        if key is not None:
            entry = self.keys.get(key)
            if entry is None:
                self.keys[key] = [1, action.failed]
            else:
                entry[0] += 1
                entry[1] = action.failed  # the newest occurrence's outcome
        self.repeats += action.repeat
        self.stuck += action.stuck
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
            entry = self.keys[key]
            if entry[0] > 1:
                entry[0] -= 1  # a newer occurrence is still in: its outcome stays the key's
            else:
                del self.keys[key]
        self.repeats -= action.repeat
        self.stuck -= action.stuck
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
        words = self.words if self.words > HEDGE_SAMPLE else HEDGE_SAMPLE
        uncertainty = hedge_weight * self.hedges / words + (self.repeats + self.stuck) / size
        intent = self.intent
        if intent is None or not intent.features or not self.norm2:
            drift = 0.0
        else:
            drift = 1.0 - self.dot / math.sqrt(len(intent.features) * self.norm2)
            if drift < 0.0:  # identical vectors: the square root may round down by an ulp
                drift = 0.0
        errors = self.call_errors / size
        if not n:
            return uncertainty, drift, errors, 0.0, 0.0
        return uncertainty, drift, errors, self.tokens / n, self.cost_nanos / (n * 1e9)

    def measured(self) -> tuple[bool, bool, bool, bool, bool]:
        """Which of the five signals have a reading (see the module docstring)."""
        intent = self.intent
        return (
            True,
            intent is not None and bool(intent.features) and len(self.keys) >= DRIFT_SAMPLE,
            bool(self.calls),
            self.seen_tokens,
            self.seen_cost,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "actions": [a.to_json() for a in self.actions],
            "calls": list(self.calls),
            "last_call": list(self.last_call) if self.last_call is not None else None,
            "seen": [self.seen_tokens, self.seen_cost],
        }

    @classmethod
    def from_json(cls, size: int, data: dict[str, Any], intent: Intent | None) -> SignalWindow:
        """Rebuild a window (the sums are exact integers: rebuilding gives the same state).
        The actions keep their recorded flags: they were judged against actions and calls
        that may have left the window since."""
        window = cls(size)
        window.intent = intent
        for item in data["actions"]:
            window._enter(Action.from_json(item))
        for failed in data["calls"]:
            window._call(bool(failed))
        last = data["last_call"]
        window.last_call = (last[0], bool(last[1])) if last is not None else None
        window.seen_tokens, window.seen_cost = bool(data["seen"][0]), bool(data["seen"][1])
        return window
