"""The event store (docs/design.md §4): the log every state change is written to, and read back from.

- ``events``: the envelope (:class:`Event`), the registry of event types, the append path's
  preparation (validation, redaction, serialization); ``payloads``: the core types' payloads.
- ``server``: :class:`EventStore`, the one process that writes, with group commit.
- ``log``: :class:`EventLog`, the store as users see it (``rt.events``): append, query,
  subscribe, JSONL export and import.
- ``sqlite``: the SQLite backend (schema, migrations, batch insert, queries).
- ``errors``: the typed errors of all of the above. ``ids``: the runtime's id scheme.
- ``_lock``: :class:`WriterLock`, one writer per database file (``StoreLocked`` for a second).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "BadRequest": ".errors",
    "DuplicateEvent": ".errors",
    "EventError": ".errors",
    "EventTypeConflict": ".errors",
    "InvalidEvent": ".errors",
    "JsonlImportError": ".errors",
    "JsonlLineError": ".errors",
    "OrphanOutcome": ".errors",
    "PayloadTooLarge": ".errors",
    "SchemaVersionError": ".errors",
    "StoreClosed": ".errors",
    "StoreError": ".errors",
    "StoreLocked": ".errors",
    "StoreOpenError": ".errors",
    "StoreReadError": ".errors",
    "StoreReadOnly": ".errors",
    "StoreWriteError": ".errors",
    "WriterProcessLost": ".errors",
    "UnknownEventType": ".errors",
    "Event": ".events",
    "EventDraft": ".events",
    "event_types": ".events",
    "payload_model": ".events",
    "register_event_type": ".events",
    "Glance": ".glance",
    "glance": ".glance",
    "new_id": ".ids",
    "EventLog": ".log",
    "LogStats": ".log",
    "open_event_log": ".log",
    "read_jsonl": "._jsonl",
    "Payload": ".payloads",
    "EventStore": ".server",
    "EventStoreConfig": ".server",
    "WriterLock": "._lock",
    "redact": "._redaction",
    "register_secrets": "._redaction",
    "StoreCorrupt": ".errors",
}

__all__ = [
    "BadRequest",
    "DuplicateEvent",
    "Event",
    "EventDraft",
    "EventError",
    "EventLog",
    "EventStore",
    "EventStoreConfig",
    "EventTypeConflict",
    "Glance",
    "InvalidEvent",
    "JsonlImportError",
    "JsonlLineError",
    "LogStats",
    "OrphanOutcome",
    "Payload",
    "PayloadTooLarge",
    "SchemaVersionError",
    "StoreClosed",
    "StoreCorrupt",
    "StoreError",
    "StoreLocked",
    "StoreOpenError",
    "StoreReadError",
    "StoreReadOnly",
    "StoreWriteError",
    "UnknownEventType",
    "WriterLock",
    "WriterProcessLost",
    "event_types",
    "glance",
    "new_id",
    "open_event_log",
    "payload_model",
    "read_jsonl",
    "redact",
    "register_event_type",
    "register_secrets",
]
assert set(__all__) == set(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from ._jsonl import read_jsonl
    from ._lock import WriterLock
    from ._redaction import redact, register_secrets
    from .errors import (
        BadRequest,
        DuplicateEvent,
        EventError,
        EventTypeConflict,
        InvalidEvent,
        JsonlImportError,
        JsonlLineError,
        OrphanOutcome,
        PayloadTooLarge,
        SchemaVersionError,
        StoreClosed,
        StoreCorrupt,
        StoreError,
        StoreLocked,
        StoreOpenError,
        StoreReadError,
        StoreReadOnly,
        StoreWriteError,
        UnknownEventType,
        WriterProcessLost,
    )
    from .events import Event, EventDraft, event_types, payload_model, register_event_type
    from .glance import Glance, glance
    from .ids import new_id
    from .log import EventLog, LogStats, open_event_log
    from .payloads import Payload
    from .server import EventStore, EventStoreConfig
