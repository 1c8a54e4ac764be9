"""The child side of ``process`` isolation: run one tool function and report as JSON.

Started by ``_isolation.run_in_process``. Protocol: one JSON request on stdin (function
reference, the parent's ``sys.path``, arguments, context); one JSON reply on the *original*
stdout, which this module takes for itself before pointing fd 1 at stderr — so whatever the
tool prints (``print``, C extensions, subprocesses) goes to stderr and cannot corrupt the
reply. Replies: ``{"ok": true, "value": ...}`` or ``{"ok": false, "kind": "load" | "error" |
"output", "message": ..., ...}``. A worker that dies without replying is reported by the
parent from its exit status.

The worker exits with ``os._exit`` once the reply is written: a stray non-daemon thread the
tool started must not keep it alive, and it is disposable (``atexit`` handlers do not run).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any


def main() -> None:
    # Dying with the runtime was arranged before exec (``_child``); this check is for the
    # platforms without that, where it at least catches a runtime already gone.
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    request = json.loads(sys.stdin.buffer.read())
    if os.getppid() != request["parent_pid"]:
        os._exit(1)  # the parent died before we could watch it; nobody wants the result
    reply = _serve(request)
    try:
        data = json.dumps(reply).encode()
    except (TypeError, ValueError) as exc:  # a reply value that is not JSON after all
        data = json.dumps({"ok": False, "kind": "output", "message": str(exc)}).encode()
    channel.write(data)
    channel.close()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(0)


def _serve(request: dict[str, Any]) -> dict[str, Any]:
    # Imported here, after the parent's sys.path is in place, like the tool's own module.
    sys.path[:] = request["sys_path"]
    from soma_runtime.tools.spec import ToolContext, ToolSpec, build_args_model

    tool = request["tool"]
    try:
        target = _resolve(request["module"], request["qualname"], request["file"])
        if isinstance(target, ToolSpec):
            spec = target
        else:
            spec = ToolSpec(tool, target, build_args_model(tool, target))
        args = spec.validate_args(request["args"])
        context = request["context"]
        ctx = ToolContext(**{**context, "root": Path(context["root"])})
        kwargs = spec._bind(args, ctx)
    except BaseException as exc:
        where = f"{request['qualname']} from module {request['module']!r}"
        problem = f"cannot load {where}: {type(exc).__qualname__}: {exc}"
        return {"ok": False, "kind": "load", "message": problem}
    assert spec.fn is not None
    from soma_runtime.tools._isolation import call_and_reply

    return call_and_reply(tool, spec.fn, kwargs)


def _resolve(module_name: str, qualname: str, file: str | None) -> Any:
    module = _import(module_name, file)
    target: Any = module
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def _import(module_name: str, file: str | None) -> ModuleType:
    if module_name != "__main__":
        try:
            return importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name or file is None:
                raise
    if file is None:
        raise ModuleNotFoundError(f"module {module_name!r} has no file to load")
    # The parent's script (or a module loaded by path): load the file under another name so
    # its `if __name__ == "__main__":` block does not run again here.
    alias = "__soma_main__" if module_name == "__main__" else module_name
    spec = importlib.util.spec_from_file_location(alias, file)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"cannot load {file!r}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[alias] = module
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    main()
