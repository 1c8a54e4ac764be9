"""Logging for the ``soma`` command: structlog, configured here and only here.

The library never configures logging (it logs through stdlib loggers named ``soma.*``). The
command routes those records and its own structlog events through one handler on stderr:
a console renderer (coloured on a terminal), or one JSON object per line with ``--log-json``
for machines. Stdout stays for the verbs' output.

structlog (with rich, which it uses for tracebacks) takes longer to import than a verb like
``statusline`` — run at every shell prompt — takes to do its work. So it is imported on first
use: by the first record that reaches the handler, or by :func:`get_logger`.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from structlog.stdlib import BoundLogger, ProcessorFormatter

LEVELS = ("debug", "info", "warning", "error")

_json_logs = False
_stream: TextIO | None = None


def configure(*, json_logs: bool, level: str, stream: TextIO | None = None) -> None:
    """Send Soma's records at ``level`` and above to ``stream`` (stderr), rendered by structlog.

    ``level`` is for Soma's own loggers (``soma.*``); other libraries' (asyncio, aiosqlite)
    speak only from warnings up, so ``debug`` shows Soma's story, not a driver's chatter.
    """
    global _json_logs, _stream
    _json_logs, _stream = json_logs, stream if stream is not None else sys.stderr
    threshold = logging.getLevelNamesMapping()[level.upper()]
    from soma_runtime.store._redaction import RedactingFilter

    handler = _Handler(_stream)
    # Every record, whoever logged it, loses registered and credential-looking values.
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(max(threshold, logging.WARNING))
    logging.getLogger("soma").setLevel(threshold)


def get_logger(name: str) -> BoundLogger:
    """A structlog logger whose events go through the handler :func:`configure` installed."""
    import structlog

    _formatter()  # configures structlog before its first logger exists
    logger: BoundLogger = structlog.get_logger(name)
    return logger


class _Handler(logging.StreamHandler[TextIO]):
    def format(self, record: logging.LogRecord) -> str:
        if self.formatter is None:
            self.setFormatter(_formatter())
        return super().format(record)


def _formatter() -> ProcessorFormatter:
    import structlog

    stream = _stream if _stream is not None else sys.stderr
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any
    if _json_logs:
        shared.append(structlog.processors.dict_tracebacks)
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
