"""How the local stack's supervisor looks at a service from outside: is its port free, does it answer
HTTP or the AWS JSON protocol, what did its log say last."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from pathlib import Path


def port_free(number: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", number))
        except OSError:
            return False
    return True


def http_ok(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> bool:
    try:
        req = urllib.request.Request(url, data=body, headers=headers or {})
        with urllib.request.urlopen(req, timeout=2) as resp:
            return 200 <= resp.status < 300
    except (urllib.error.URLError, OSError):
        return False


def aws_json_ok(url: str, target: str, content_type: str) -> bool:
    # An unsigned call is enough: both servers answer it, and a 200 proves the protocol works.
    return http_ok(
        url,
        body=b"{}",
        headers={
            "Content-Type": content_type,
            "X-Amz-Target": target,
            "X-Amz-Date": "20260101T000000Z",
            "Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/x/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )


def tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip()[:200] for line in text[-lines:])
