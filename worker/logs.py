"""structlog JSON lines on stderr: stdout belongs to the KCL MultiLang protocol in the processor.

Our own events go through structlog's pipeline straight to stderr. Records of the stdlib `logging`
module (botocore, urllib3, opensearch-py, anything else) go through one handler on the root logger
whose structlog ProcessorFormatter renders them as the same JSON lines, on stderr too. Third-party
loggers stay at warning whatever the configured level (botocore's debug output holds request bodies);
the `worker` loggers follow the configured level.

Face ids, external image ids, names and image file paths are biometric personal data: never pass
them at info level (counts and positions only; the detail at debug at most).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson
import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
THIRD_PARTY_LEVEL = logging.WARNING
OUR_LOGGERS = ("worker",)
# Set to warning explicitly too, in case a library lowers its own level.
THIRD_PARTY_LOGGERS = (
    "botocore",
    "boto3",
    "s3transfer",
    "urllib3",
    "opensearch",
    "opensearchpy",
    "opensearchpy.trace",
    "amazon_kclpy",
)


def _dumps_text(obj: Any, **kw: Any) -> str:
    return orjson.dumps(obj, default=kw.get("default")).decode()


class _Stderr:
    """A structlog logger that writes to whatever `sys.stderr` is when it writes, not when it was made:
    a stream captured or replaced after configure() (a test's capture, a redirect) is never written to
    after it closed."""

    def msg(self, message: bytes) -> None:
        stream = sys.stderr
        buffer = getattr(stream, "buffer", None)
        if buffer is None:
            stream.write(message.decode() + "\n")
            return
        stream.flush()  # what was written as text goes first
        buffer.write(message + b"\n")
        buffer.flush()

    log = debug = info = warn = warning = error = err = critical = exception = fatal = failure = msg


class _StdlibHandler(logging.StreamHandler):
    """The handler configure() puts on the root logger (so a second configure() replaces it); it too
    writes to the current `sys.stderr`."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _stdlib_handler(stream: Any) -> logging.Handler:
    handler = _StdlibHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.stdlib.add_logger_name,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(serializer=_dumps_text),
            ],
        )
    )
    return handler


def _route_stdlib_logging(level: int) -> None:
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StdlibHandler)]:
        root.removeHandler(old)
    handler = _stdlib_handler(sys.stderr)
    root.addHandler(handler)
    root.setLevel(THIRD_PARTY_LEVEL)
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(THIRD_PARTY_LEVEL)
    for name in OUR_LOGGERS:
        logging.getLogger(name).setLevel(level)
    # A logger that does not propagate and has no handler of its own (opensearchpy.trace) would fall
    # back to logging.lastResort, a plain-text line: make that fallback the JSON handler as well.
    last_resort = _stdlib_handler(sys.stderr)
    last_resort.setLevel(THIRD_PARTY_LEVEL)
    logging.lastResort = last_resort


def configure(level: str = "info", **context: object) -> structlog.stdlib.BoundLogger:
    numeric = _LEVELS.get(level.lower(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=lambda *args: _Stderr(),
        cache_logger_on_first_use=True,
    )
    _route_stdlib_logging(numeric)
    if context:
        structlog.contextvars.bind_contextvars(**context)
    return structlog.get_logger()


def get_logger() -> structlog.stdlib.BoundLogger:
    return structlog.get_logger()
