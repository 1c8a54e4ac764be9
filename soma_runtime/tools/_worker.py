"""The child side of ``process`` isolation: run one tool function and report as JSON.

(``ray`` isolation's task body, :func:`ray_task`, lives here too: the call and its reply are
the same, only the transport differs.)

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

import asyncio
import importlib
import importlib.util
import inspect
import json
import os
import pickle
import sys
import traceback
from collections.abc import Iterator
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
    return call(tool, spec.fn, kwargs)


def call(tool: str, fn: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Call the tool function once and say how it went, as the reply a worker sends back
    (``ray`` isolation's task returns the same reply: ``_ray.run_on_ray``)."""
    from soma_runtime.tools.errors import ToolFailed

    try:
        result = fn(**kwargs)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
    except BaseException as exc:  # SystemExit too: the tool failed, the worker reports it
        return {
            "ok": False,
            "kind": "error",
            "type": type(exc).__qualname__,
            "message": exc.message if isinstance(exc, ToolFailed) else str(exc),
            "tool_failed": isinstance(exc, ToolFailed),
            "traceback": traceback.format_exc(limit=-20),
        }
    from soma_runtime.tools._isolation import to_json_value
    from soma_runtime.tools.errors import ToolOutputNotSerializable

    try:
        return {"ok": True, "value": to_json_value(tool, result)}
    except ToolOutputNotSerializable as exc:
        return {"ok": False, "kind": "output", "message": exc.problem}


def ray_task(tool: str, sys_path: list[str], payload: bytes) -> Iterator[Any]:
    """The body of a ``ray`` tool's Ray task, run in a Ray worker process: a generator that
    yields where it runs — ``(node id, pid)``, so that the runtime can watch the worker
    process go when it stops the task — and then the reply.

    ``payload`` is the function, its keyword arguments and its context, pickled by the
    runtime (``_ray``) rather than by Ray, so that the runtime's ``sys.path`` is in place
    before the tool's module is imported: appended after the worker's own entries, it finds
    the modules the runtime found (a script's folder…) on the same machine, and is
    harmless elsewhere. The reply is :func:`call`'s, plain data, so that the runtime never
    has to unpickle a tool's exception.
    """
    import ray  # in a Ray worker: already imported

    yield ray.get_runtime_context().get_node_id(), os.getpid()
    for entry in sys_path:
        if entry not in sys.path:
            sys.path.append(entry)
    from soma_runtime.tools.spec import ToolContext

    try:
        fn, kwargs, context_param, context = pickle.loads(payload)
        if context_param is not None:
            kwargs[context_param] = ToolContext(**{**context, "root": Path(context["root"])})
    except BaseException as exc:
        problem = f"cannot load the function in its Ray worker: {type(exc).__qualname__}: {exc}"
        yield {"ok": False, "kind": "load", "message": problem}
        return
    yield call(tool, fn, kwargs)


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
