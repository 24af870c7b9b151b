"""The alert webhook: https only (alerts carry biometric data) and a Standard Webhooks secret, never echoed."""

from __future__ import annotations

import base64
import os

import pytest

from worker.config import ConfigError, load_config

MAKE_ONE = "python -c \"import base64,os; print('whsec_' + base64.b64encode(os.urandom(32)).decode())\""


def secret(key_bytes: int = 32) -> str:
    return "whsec_" + base64.b64encode(os.urandom(key_bytes)).decode()


def load(url: str, webhook_secret: str | None = None, **more: str):
    env = {"FACEWATCH__ALERTS__WEBHOOK_URL": url, **more}
    if webhook_secret is not None:
        env["FACEWATCH__ALERTS__WEBHOOK_SECRET"] = webhook_secret
    return load_config(env=env, stack_env_file=None)


@pytest.mark.parametrize("url", ["http://soc.example.com/alerts", "http://10.0.0.5:8080/alerts"])
def test_plain_http_is_refused_and_the_message_says_why(url):
    with pytest.raises(ConfigError) as err:
        load(url, secret())
    message = str(err.value)
    assert message.startswith("alerts.webhook_url:") and "https" in message and "biometric" in message
    assert "/alerts" not in message  # the path may hold a token: only scheme and host are quoted


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://[::1]:8080/hook",
        "http://localhost/hook",
        "https://soc.example.com/facewatch/alerts",
    ],
)
def test_https_or_a_receiver_on_this_machine(url):
    assert load(url, secret()).alerts.webhook_url == url


def test_a_webhook_needs_a_secret_and_the_message_says_how_to_make_one():
    with pytest.raises(ConfigError) as err:
        load("https://soc.example.com/alerts")
    message = str(err.value)
    assert message.startswith("alerts.webhook_secret: is empty") and MAKE_ONE in message
    assert "FACEWATCH__ALERTS__WEBHOOK_SECRET" in message


@pytest.mark.parametrize(
    "bad",
    [
        "hunter2-hunter2-hunter2-hunter2",  # no whsec_ prefix
        "whsec_not*base64*at*all",
        "whsec_" + base64.b64encode(b"k" * 16).decode(),  # too short a key
        "whsec_" + base64.b64encode(b"k" * 65).decode(),  # too long
        secret() + " rotating-hunter2-hunter2",
    ],  # the second of two
)
def test_a_malformed_secret_is_refused_without_being_echoed(bad):
    with pytest.raises(ConfigError) as err:
        load("https://soc.example.com/alerts", bad)
    message = str(err.value)
    assert message.startswith("alerts.webhook_secret:") and MAKE_ONE in message
    for part in bad.split():
        assert part not in message and part.removeprefix("whsec_") not in message


@pytest.mark.parametrize("key_bytes", [24, 32, 64])
def test_standard_webhooks_secrets_of_24_to_64_bytes(key_bytes):
    value = secret(key_bytes)
    alerts = load("https://soc.example.com/alerts", value).alerts
    assert alerts.webhook_secret == value and alerts.webhook_secrets == (value,)


def test_two_secrets_during_a_rotation():
    new, old = secret(), secret()
    alerts = load("https://soc.example.com/alerts", f"{new} {old}").alerts
    assert alerts.webhook_secrets == (new, old) and all(isinstance(s, str) for s in alerts.webhook_secrets)


def test_secrets_never_appear_in_repr_or_str():
    webhook_secret, password = secret(), "opensearch-pw-1234"
    cfg = load(
        "https://soc.example.com/alerts",
        webhook_secret,
        OPENSEARCH_PASSWORD=password,
        OPENSEARCH_USERNAME="worker",
        FACEWATCH__OPENSEARCH__AUTH="basic",
    )
    assert cfg.opensearch.password == password and cfg.alerts.webhook_secret == webhook_secret
    for text in (repr(cfg), str(cfg), repr(cfg.opensearch), str(cfg.alerts), repr(cfg.alerts)):
        assert password not in text and webhook_secret not in text
        assert webhook_secret.removeprefix("whsec_") not in text


def test_a_secret_of_the_wrong_kind_in_yaml_is_not_quoted(tmp_path):
    file = tmp_path / "w.yaml"
    file.write_text("opensearch:\n  password: [do-not-print-me]\n")
    with pytest.raises(ConfigError) as err:
        load_config(file, env={}, stack_env_file=None)
    assert "opensearch.password" in str(err.value) and "do-not-print-me" not in str(err.value)
