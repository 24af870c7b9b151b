"""stdlib and third-party log records come out as structlog JSON lines on stderr, never on stdout.

Each case runs in a fresh interpreter: logging configuration is process-wide, and the processor's
stdout (the KCL protocol) is a real file descriptor, which is what is checked here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def _run(code: str, env: dict[str, str] | None = None) -> tuple[str, list[dict]]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line on stderr: {line!r}") from None
    return done.stdout, records


def test_a_botocore_warning_is_one_json_line_on_stderr_and_nothing_on_stdout():
    stdout, records = _run("""
        import logging
        from worker.logs import configure
        configure("info")
        logging.getLogger("botocore").warning("x")
    """)
    assert stdout == ""
    assert len(records) == 1
    assert records[0]["level"] == "warning" and records[0]["event"] == "x"
    assert records[0]["logger"] == "botocore" and "timestamp" in records[0]


def test_third_party_loggers_stay_at_warning_and_ours_follow_the_configured_level():
    stdout, records = _run("""
        import logging
        from worker.logs import configure
        log = configure("debug", worker_id="w1")
        for name in ("botocore", "botocore.endpoint", "urllib3.connectionpool", "opensearch",
                     "opensearchpy.trace", "amazon_kclpy", "some.other.library"):
            logging.getLogger(name).debug("noise %s", name)
            logging.getLogger(name).info("noise %s", name)
        logging.getLogger("worker.sinks.opensearch").debug("ours %d", 1)
        log.debug("structlog_event", n=2)
        logging.getLogger("urllib3.connectionpool").error("kept")
        try:
            1 / 0
        except ZeroDivisionError:
            logging.getLogger("opensearch").exception("failed")
        print("protocol line")
    """)
    assert stdout == "protocol line\n"
    assert not [r for r in records if "noise" in r["event"]]
    by_event = {r["event"]: r for r in records}
    assert set(by_event) == {"ours 1", "structlog_event", "kept", "failed"}
    assert by_event["ours 1"]["level"] == "debug" and by_event["ours 1"]["worker_id"] == "w1"
    assert by_event["structlog_event"] == {**by_event["structlog_event"], "level": "debug", "n": 2}
    assert by_event["kept"]["level"] == "error" and by_event["kept"]["worker_id"] == "w1"
    assert "ZeroDivisionError" in by_event["failed"]["exception"]


def test_configure_twice_does_not_double_the_lines_and_info_hides_debug():
    stdout, records = _run("""
        import logging
        from worker.logs import configure
        configure("debug")
        configure("info")
        logging.getLogger("worker.ops").debug("hidden")
        logging.getLogger("worker.ops").info("shown")
        logging.getLogger("botocore.credentials").warning("once")
    """)
    assert stdout == ""
    assert [r["event"] for r in records] == ["shown", "once"]


def test_logging_survives_the_stream_it_was_configured_with_being_closed(capsys):
    """pytest (or a redirect) swaps sys.stderr: a logger made before must write to the current one,
    never to the closed one (this stopped a whole test run with 'I/O operation on closed file')."""
    import io
    import logging

    import orjson

    from worker.logs import configure, get_logger

    old = sys.stderr
    first = io.TextIOWrapper(io.BytesIO())
    sys.stderr = first
    try:
        log = configure("info")
        log.info("one")
        first.close()
        second = io.TextIOWrapper(io.BytesIO())
        sys.stderr = second
        log.info("two")
        get_logger().warning("three")
        logging.getLogger("botocore").warning("four")
        second.flush()
        lines = second.buffer.getvalue().splitlines()
    finally:
        sys.stderr = old
    assert [orjson.loads(line)["event"] for line in lines] == ["two", "three", "four"]
