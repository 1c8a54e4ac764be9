"""Typed errors of the kernel. Each names what was wrong, so a caller can act on it."""

from __future__ import annotations

from typing import Protocol

from .reasons import ExitReason, describe


class PidLike(Protocol):
    """What an error keeps of the process it is about: its pid, to name it and compare it.

    Structural, because errors sit below processes in the kernel (``process`` raises them);
    every ``pid`` an error carries is a :class:`soma_runtime.kernel.process.Pid`.
    """

    @property
    def id(self) -> int: ...


class KernelError(Exception):
    """Base class of every error the kernel raises."""


class Exit(BaseException):
    """Raised inside a process to exit it with ``reason`` (Erlang's ``exit(Reason)``).

    A ``BaseException`` so that a handler's ``except Exception`` cannot swallow it by accident.
    """

    def __init__(self, reason: ExitReason) -> None:
        super().__init__(reason)
        self.reason = reason


class NoProc(KernelError):
    """The target process is dead, or no process is registered under that name."""

    def __init__(self, target: PidLike | str) -> None:
        super().__init__(f"no process: {target}")
        self.target = target


class CallTimeout(KernelError, TimeoutError):
    """A call got no reply in time. Raised in the caller only; the server keeps running."""

    def __init__(self, pid: PidLike, timeout: float) -> None:
        super().__init__(f"call to {pid} timed out after {timeout}s")
        self.pid = pid
        self.timeout = timeout


class ProcessDied(KernelError):
    """The called process exited before replying; ``reason`` is its exit reason."""

    def __init__(self, pid: PidLike, reason: ExitReason) -> None:
        super().__init__(f"{pid} exited while serving a call: {describe(reason)}")
        self.pid = pid
        self.reason = reason


class CallToSelf(KernelError):
    """A process called itself: that would deadlock, so it raises instead."""

    def __init__(self, pid: PidLike) -> None:
        super().__init__(f"{pid} called itself (this would deadlock)")
        self.pid = pid


class MailboxFull(KernelError):
    """The target's mailbox is full and its overflow policy is ``fail`` (or the send was non-blocking)."""

    def __init__(self, pid: PidLike, capacity: int) -> None:
        super().__init__(f"mailbox of {pid} is full (capacity {capacity})")
        self.pid = pid
        self.capacity = capacity


class NameTaken(KernelError):
    """A name is already registered to a live process."""

    def __init__(self, name: str, holder: PidLike) -> None:
        super().__init__(f"name {name!r} is already registered to {holder}")
        self.name = name
        self.holder = holder


class AlreadyRegistered(KernelError, ValueError):
    """The process already has a registered name; a process has at most one."""

    def __init__(self, pid: PidLike, name: str) -> None:
        super().__init__(f"{pid} is already registered as {name!r}")
        self.pid = pid
        self.name = name


class StartError(KernelError):
    """A process (or a supervisor's child) failed to start; ``reason`` says why."""

    def __init__(self, reason: ExitReason, child_id: object = None) -> None:
        where = f"child {child_id!r} " if child_id is not None else ""
        super().__init__(f"{where}failed to start: {describe(reason)}")
        self.reason = reason
        self.child_id = child_id


class InvalidSpec(KernelError, ValueError):
    """A child spec or supervisor flag is invalid; names the field and the offending value."""

    def __init__(self, field: str, value: object, expected: str) -> None:
        super().__init__(f"invalid {field}: {value!r} (expected {expected})")
        self.field = field
        self.value = value
        self.expected = expected


class SupervisorError(KernelError):
    """Base of the child-administration errors, mirroring OTP's ``{error, …}`` results."""


class AlreadyStarted(SupervisorError):
    def __init__(self, child_id: object, pid: PidLike) -> None:
        super().__init__(f"child {child_id!r} is already started as {pid}")
        self.child_id = child_id
        self.pid = pid


class AlreadyPresent(SupervisorError):
    def __init__(self, child_id: object) -> None:
        super().__init__(f"child {child_id!r} is already present (stopped); restart or delete it")
        self.child_id = child_id


class ChildRunning(SupervisorError):
    def __init__(self, child_id: object) -> None:
        super().__init__(f"child {child_id!r} is running")
        self.child_id = child_id


class ChildRestarting(SupervisorError):
    def __init__(self, child_id: object) -> None:
        super().__init__(f"child {child_id!r} is restarting")
        self.child_id = child_id


class ChildNotFound(SupervisorError):
    def __init__(self, child_id: object) -> None:
        super().__init__(f"no child {child_id!r}")
        self.child_id = child_id


class MaxChildren(SupervisorError):
    """A dynamic supervisor already runs ``max_children`` children (OTP's ``max_children``)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the supervisor already has its maximum of {limit} children")
        self.limit = limit
