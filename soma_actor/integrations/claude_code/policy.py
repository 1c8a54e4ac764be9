"""How ``soma hook`` behaves beyond recording: a small TOML file, given with ``--config``.

::

    deny = true                                    # refuse destructive actions under BLOCK
    destructive_commands = ["terraform destroy", "kubectl delete"]   # command prefixes
    secret_files = ["*.tfstate"]                   # more secrets files (glob on the name)
    subagent_trust = 1.0                           # trust on the edge subagent → its session
    vitals_config = "vitals.json"                  # a VitalsConfig.to_json() file (direct writes)

Every key is optional; a path is relative to the file. A mistake raises :class:`PolicyError`
naming the file and the key; ``soma init`` checks the file before writing any hook, and a
hook that meets a bad file records the error and lets Claude Code's work go on.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..destructive import DEFAULT_RULES, Rules

if TYPE_CHECKING:
    from typing import Any

    from soma_runtime.vitals import VitalsConfig

_KEYS = frozenset({"deny", "destructive_commands", "secret_files", "subagent_trust", "vitals_config"})


class PolicyError(ValueError):
    """A hook config file Soma cannot use."""


class HookPolicy:
    __slots__ = ("deny", "rules", "subagent_trust", "vitals_config_path")

    def __init__(
        self,
        *,
        deny: bool = True,
        rules: Rules = DEFAULT_RULES,
        subagent_trust: float = 1.0,
        vitals_config_path: str | None = None,
    ) -> None:
        self.deny = deny
        self.rules = rules
        self.subagent_trust = subagent_trust
        self.vitals_config_path = vitals_config_path

    @classmethod
    def load(cls, path: str) -> HookPolicy:
        import tomllib

        try:
            with open(path, "rb") as file:
                data = tomllib.load(file)
        except OSError as exc:
            raise PolicyError(f"{path}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"{path}: {exc}") from None
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            raise PolicyError(f"{path}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
        deny = data.get("deny", True)
        if not isinstance(deny, bool):
            raise PolicyError(f"{path}: deny must be true or false, got {deny!r}")
        commands = _strings(path, data, "destructive_commands")
        secrets = _strings(path, data, "secret_files")
        trust = data.get("subagent_trust", 1.0)
        if isinstance(trust, bool) or not isinstance(trust, int | float) or not 0 <= trust <= 1:
            raise PolicyError(f"{path}: subagent_trust must be a number in [0, 1], got {trust!r}")
        vitals = data.get("vitals_config")
        if vitals is not None:
            if not isinstance(vitals, str) or not vitals:
                raise PolicyError(f"{path}: vitals_config must be a path, got {vitals!r}")
            vitals = os.path.join(os.path.dirname(os.path.abspath(path)), vitals)
        try:
            rules = Rules(commands, secrets)
        except ValueError as exc:
            raise PolicyError(f"{path}: destructive_commands: {exc}") from None
        return cls(deny=deny, rules=rules, subagent_trust=float(trust), vitals_config_path=vitals)

    def vitals_config(self) -> VitalsConfig | None:
        """The vitals config the file names (None: the engine's defaults)."""
        if self.vitals_config_path is None:
            return None
        import json

        from soma_runtime.vitals.config import VitalsConfig

        try:
            with open(self.vitals_config_path, encoding="utf-8") as file:
                return VitalsConfig.from_json(json.load(file))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PolicyError(f"{self.vitals_config_path}: not a vitals config: {exc}") from None


def _strings(path: str, data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise PolicyError(f"{path}: {key} must be a list of non-empty strings, got {value!r}")
    return value
