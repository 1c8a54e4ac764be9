"""``soma_runtime.kernel`` — OTP's primitives on anyio/asyncio.

Processes with mailboxes, links and monitors; GenServer, GenStatem, Supervisor and
DynamicSupervisor behaviours; a name registry; one clock for every timer. The kernel knows
nothing of agents, tools or events.
"""

from ._behaviour import IGNORE
from .clock import Clock, MonotonicClock, VirtualClock, settle
from .errors import (
    AlreadyPresent,
    AlreadyRegistered,
    AlreadyStarted,
    CallTimeout,
    CallToSelf,
    ChildNotFound,
    ChildRestarting,
    ChildRunning,
    Exit,
    InvalidSpec,
    KernelError,
    MailboxFull,
    MaxChildren,
    NameTaken,
    NoProc,
    ProcessDied,
    StartError,
    SupervisorError,
)
from .gen_server import NOREPLY, TIMEOUT, GenServer, Stop
from .mailbox import DEFAULT_CAPACITY, Mailbox, Overflow
from .node import Node, call, cast, current_node, send, whereis
from .process import Call, Cast, Down, ExitSignal, Pid, Process, Ref, current_process, self_pid
from .reasons import KILL, KILLED, NOPROC, NORMAL, SHUTDOWN, Atom, ExitReason, Shutdown, is_orderly

Caller = Call

__all__ = [
    "DEFAULT_CAPACITY",
    "IGNORE",
    "KILL",
    "KILLED",
    "NOPROC",
    "NOREPLY",
    "NORMAL",
    "SHUTDOWN",
    "TIMEOUT",
    "AlreadyPresent",
    "AlreadyRegistered",
    "AlreadyStarted",
    "Atom",
    "Call",
    "CallTimeout",
    "CallToSelf",
    "Caller",
    "Cast",
    "ChildNotFound",
    "ChildRestarting",
    "ChildRunning",
    "Clock",
    "Down",
    "Exit",
    "ExitReason",
    "ExitSignal",
    "GenServer",
    "InvalidSpec",
    "KernelError",
    "Mailbox",
    "MailboxFull",
    "MaxChildren",
    "MonotonicClock",
    "NameTaken",
    "NoProc",
    "Node",
    "Overflow",
    "Pid",
    "Process",
    "ProcessDied",
    "Ref",
    "Shutdown",
    "StartError",
    "Stop",
    "SupervisorError",
    "VirtualClock",
    "call",
    "cast",
    "current_node",
    "current_process",
    "is_orderly",
    "self_pid",
    "send",
    "settle",
    "whereis",
]

from ._supervision import ChildRestarted, SupervisorShutdown  # noqa: E402
from .child_spec import (  # noqa: E402
    BRUTAL_KILL,
    INFINITY,
    ONE_FOR_ALL,
    ONE_FOR_ONE,
    PERMANENT,
    REST_FOR_ONE,
    RESTARTING,
    SUPERVISOR,
    TEMPORARY,
    TRANSIENT,
    WORKER,
    AutoShutdown,
    Backoff,
    ChildCounts,
    ChildInfo,
    ChildSpec,
    Kind,
    Restart,
    Strategy,
    SupFlags,
)
from .dynamic_supervisor import DynamicSupervisor  # noqa: E402
from .supervisor import Supervisor  # noqa: E402

__all__ += [
    "BRUTAL_KILL",
    "INFINITY",
    "ONE_FOR_ALL",
    "ONE_FOR_ONE",
    "PERMANENT",
    "RESTARTING",
    "REST_FOR_ONE",
    "SUPERVISOR",
    "TEMPORARY",
    "TRANSIENT",
    "WORKER",
    "AutoShutdown",
    "Backoff",
    "ChildCounts",
    "ChildInfo",
    "ChildRestarted",
    "ChildSpec",
    "DynamicSupervisor",
    "Kind",
    "Restart",
    "Strategy",
    "SupFlags",
    "Supervisor",
    "SupervisorShutdown",
]

from .introspection import ProcessInfo, process_info, render, tree  # noqa: E402

__all__ += ["ProcessInfo", "process_info", "render", "tree"]

from .gen_statem import (  # noqa: E402
    Action,
    CallEvent,
    CancelTimeout,
    CastEvent,
    Event,
    EventTimeout,
    GenericTimeout,
    GenStatem,
    InfoEvent,
    InternalEvent,
    KeepState,
    NextEvent,
    NextState,
    Postpone,
    RepeatState,
    Reply,
    StateTimeout,
    StopState,
    TimeoutEvent,
    Transition,
    TransitionError,
    UpdateTimeout,
)

__all__ += [
    "Action",
    "CallEvent",
    "CancelTimeout",
    "CastEvent",
    "Event",
    "EventTimeout",
    "GenStatem",
    "GenericTimeout",
    "InfoEvent",
    "InternalEvent",
    "KeepState",
    "NextEvent",
    "NextState",
    "Postpone",
    "RepeatState",
    "Reply",
    "StateTimeout",
    "StopState",
    "TimeoutEvent",
    "Transition",
    "TransitionError",
    "UpdateTimeout",
]
