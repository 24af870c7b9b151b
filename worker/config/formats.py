"""Text settings with a format of their own: endpoint URLs, the webhook URL and secret, index prefixes.

The checks return the value unchanged (callers get the plain string they configured) and raise a
message that quotes the value only when it holds nothing secret.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated

from pydantic import AfterValidator, Field, HttpUrl, TypeAdapter, ValidationError

from worker import webhooks
from worker.config.errors import problem
from worker.config.kinds import Text

WEBHOOK_SECRET_PREFIX = "whsec_"
WEBHOOK_KEY_BYTES = (webhooks.MIN_KEY_BYTES, webhooks.MAX_KEY_BYTES)  # one definition, in worker/webhooks.py
MAKE_WEBHOOK_SECRET = "python -c \"import base64,os; print('whsec_' + base64.b64encode(os.urandom(32)).decode())\""
# OpenSearch index names: lower case, none of these characters, not starting with _ - + (nor . : hidden).
INDEX_PREFIX_PATTERN = r'^[^\p{Lu}\s\\/*?"<>|,#:_\-+.][^\p{Lu}\s\\/*?"<>|,#:]*$'
HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


def shown_url(url: str) -> str:
    """The URL as a message may quote it: credentials (user:password@) masked."""
    return repr(re.sub(r"//.*@", "//***@", url))


def _parsed(url: str) -> HttpUrl:
    if any(c.isspace() for c in url):
        raise problem(f"{shown_url(url)} has a space in it")
    try:
        parsed = HTTP_URL.validate_python(url)
    except ValidationError as exc:
        reason = exc.errors()[0]
        if "port" in reason["msg"]:
            raise problem(f"{shown_url(url)} has a bad port (give 1 to 65535)") from None
        raise problem(f"{shown_url(url)} is not an http(s) URL") from None
    if parsed.port == 0:
        raise problem(f"{shown_url(url)} has a bad port (give 1 to 65535)")
    if parsed.username or parsed.password:
        raise problem(f"{shown_url(url)} has credentials in it; take them out of the URL")
    return parsed


def _endpoint(url: str) -> str:
    if url:
        _parsed(url)
    return url


is_loopback = webhooks.is_loopback


def _webhook(url: str) -> str:
    if not url:
        return url
    parsed = _parsed(url)
    if parsed.scheme != "https" and not is_loopback(parsed.host or ""):
        raise problem(
            f"{parsed.scheme}://{parsed.host}/... is not https; alerts carry biometric data (faces, identities),"
            " so they only leave this machine encrypted: use https:// (http:// is for a receiver on"
            " 127.0.0.1, ::1 or localhost, as in the local stack)"
        )
    return url


def webhook_secrets(value: str) -> tuple[str, ...]:
    """The secrets in a webhook_secret setting: several, space-separated, while one is rotated."""
    return tuple(value.split())


def _webhook_key_bytes(secret: str) -> int | None:
    """How many bytes the secret's key has, or None if it is not whsec_ + base64."""
    if not secret.startswith(WEBHOOK_SECRET_PREFIX):
        return None
    encoded = secret[len(WEBHOOK_SECRET_PREFIX) :]
    try:
        return len(base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True))
    except (binascii.Error, ValueError):
        return None


def _webhook_secret(value: str) -> str:
    secrets = webhook_secrets(value)
    low, high = WEBHOOK_KEY_BYTES
    for n, secret in enumerate(secrets, 1):
        size = _webhook_key_bytes(secret)
        if size is None or not low <= size <= high:
            which = f"secret {n} of {len(secrets)}" if len(secrets) > 1 else "the secret"
            got = "is not whsec_ followed by base64" if size is None else f"has a key of {size} bytes"
            raise problem(
                f"{which} {got}; a Standard Webhooks secret is whsec_ + base64 of {low} to {high} random"
                f" bytes (two, space-separated, during a rotation); make one with {MAKE_WEBHOOK_SECRET}"
            )
    return value


EndpointUrl = Annotated[Text, AfterValidator(_endpoint)]  # empty: the AWS service of the region
RequiredUrl = Annotated[Text, Field(min_length=1), AfterValidator(_endpoint)]
WebhookUrl = Annotated[Text, AfterValidator(_webhook)]
WebhookSecret = Annotated[Text, AfterValidator(_webhook_secret)]
IndexPrefix = Annotated[Text, Field(min_length=1, max_length=200, pattern=INDEX_PREFIX_PATTERN)]
