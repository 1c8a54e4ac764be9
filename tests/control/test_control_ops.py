"""The control API's extension point: ops a layer above registers with
``Runtime.add_control_op``, how their errors become replies, and the actor-layer defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _control import raw_client

from soma_runtime import Runtime
from soma_runtime.control import ControlClient, ControlError

pytestmark = pytest.mark.anyio


async def test_registered_ops_are_served_and_their_errors_become_replies(tmp_path: Path) -> None:
    sock = tmp_path / "soma.sock"
    calls: list[dict[str, Any]] = []

    async def widgets(params: dict[str, Any]) -> Any:
        calls.append(params)
        match params.get("kind"):
            case "missing":
                raise KeyError("no widget called 'w9'")
            case "bad":
                raise ValueError("kind must be a colour")
            case "typed":
                raise TypeError("size must be an int")
            case "bug":
                raise RuntimeError("widget store exploded")
            case "opaque":
                return object()
        return {"widgets": ["w1", "w2"], "params": params}

    async with Runtime.open(control=sock) as rt:
        # Registered after the server started: ops are looked up per request.
        rt.add_control_op("widgets", widgets)
        async with ControlClient.connect(sock) as client:
            assert await client.request("widgets", kind="all", n=2) == {
                "widgets": ["w1", "w2"],
                "params": {"kind": "all", "n": 2},
            }
            expected = {
                "missing": ("not_found", "no widget called 'w9'"),
                "bad": ("bad_request", "kind must be a colour"),
                "typed": ("bad_request", "size must be an int"),
                "bug": ("internal", "RuntimeError: widget store exploded"),
                "opaque": ("internal", "not JSON"),
            }
            for kind, (code, message) in expected.items():
                with pytest.raises(ControlError) as err:
                    await client.request("widgets", kind=kind)
                assert err.value.code == code, kind
                assert message in err.value.message, (kind, err.value.message)
            assert "widgets" in (await client.hello())["ops"], "and the server kept serving"
        assert [c["kind"] for c in calls] == ["all", "missing", "bad", "typed", "bug", "opaque"]

        async with raw_client(sock) as raw:
            reply = await raw.ask({"v": 1, "id": 5, "op": "widgets", "kind": "bug"})
            assert reply["id"] == 5 and reply["error"]["code"] == "internal"


async def test_the_actor_layer_ops_default_to_none_until_registered(tmp_path: Path) -> None:
    sock = tmp_path / "soma.sock"
    async with Runtime.open(control=sock) as rt, ControlClient.connect(sock) as client:
        assert await client.actors() == []
        with pytest.raises(ControlError) as err:
            await client.cancel_task("task-1")
        assert err.value.code == "not_found"
        assert "no actor layer" in err.value.message and "task-1" in err.value.message

        cancelled: list[str] = []

        async def actors(params: dict[str, Any]) -> list[dict[str, Any]]:
            return [{"actor_id": "lead", "tasks": 1}]

        async def cancel_task(params: dict[str, Any]) -> dict[str, Any]:
            task_id = params["task_id"]
            if task_id != "task-1":
                raise LookupError(f"no task {task_id!r}")
            cancelled.append(task_id)
            return {"task_id": task_id, "state": "cancelled"}

        rt.add_control_op("actors", actors)
        rt.add_control_op("cancel_task", cancel_task)
        assert await client.actors() == [{"actor_id": "lead", "tasks": 1}]
        assert await client.cancel_task("task-1") == {"task_id": "task-1", "state": "cancelled"}
        with pytest.raises(ControlError) as err:
            await client.cancel_task("task-2")
        assert err.value.code == "not_found" and err.value.message == "no task 'task-2'"
        assert cancelled == ["task-1"]
        assert (await client.hello())["actor_layer"] is True


async def test_add_control_op_refuses_bad_registrations() -> None:
    async def handler(params: dict[str, Any]) -> None:
        return None

    async with Runtime.open() as rt:  # no control socket: registering still works
        for builtin in ("hello", "sessions", "runs", "tree", "cancel_run", "follow"):
            with pytest.raises(ValueError, match="built-in"):
                rt.add_control_op(builtin, handler)
        with pytest.raises(ValueError, match="non-empty"):
            rt.add_control_op("", handler)
        with pytest.raises(TypeError, match="callable"):
            rt.add_control_op("x", "not a function")  # type: ignore[arg-type]
        rt.add_control_op("x", handler)
        rt.add_control_op("x", handler)  # a restarted layer registers again
