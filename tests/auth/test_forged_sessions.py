"""No constant string signs a working session: without SECRET_KEY, DEV and TEST sign with a random key of the
checkout, and a cookie needs the id of a live login session besides."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from flask.sessions import SecureCookieSessionInterface, session_json_serializer
from itsdangerous import URLSafeTimedSerializer

from tests.support.auth import login_session_keys

ROOT = Path(__file__).resolve().parents[2]
MODES = ("DEV", "TEST", "PROD")
GUESSES = {"", "dev", "test", "secret", "secret-key", "secretkey", "changeme", "lightserv", "development", "key"}


def key_like_constants() -> set[str]:
    """Every string in the application's code that could serve as a key, and the old per-mode defaults."""
    found = {f"insecure-{mode.lower()}-key" for mode in MODES} | {f"insecure-{mode}-key" for mode in MODES}
    for path in [*ROOT.glob("lightserv/**/*.py"), *ROOT.glob("scripts/*.py"), ROOT / "run.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) <= 64:
                if re.search(r"(?i)key|secret|insecure|token", node.value) and not re.search(r"\s", node.value):
                    found.add(node.value)
    return found | GUESSES


def forge(key: str, payload: dict) -> str:
    """A session cookie signed the way Flask signs one, with `key`."""
    iface = SecureCookieSessionInterface
    signer = {"key_derivation": iface.key_derivation, "digest_method": iface.digest_method}
    return URLSafeTimedSerializer(key, salt=iface.salt, serializer=session_json_serializer, signer_kwargs=signer).dumps(
        payload
    )


def admin_page(app, cookie: str) -> int:
    client = app.test_client()
    client.set_cookie("session", cookie)
    return client.get("/admin/users").status_code


@pytest.mark.parametrize("mode", ["DEV", "TEST"])
def test_no_constant_string_signs_an_admin_session(app, settings_overrides, make_user, mode):
    from lightserv import create_app
    from lightserv.settings import Settings

    without_key = {k: v for k, v in settings_overrides.items() if k != "secret_key"}
    keyless = create_app(Settings(**{**without_key, "lightserv_mode": mode}))
    make_user("root", roles=["facility_admin"])
    live = login_session_keys(keyless, "root")  # even a stolen live session id needs the key
    assert admin_page(keyless, forge(keyless.secret_key, live)) == 200  # the real key: the control
    guesses = key_like_constants()
    assert {"insecure-dev-key", "insecure-test-key", ""} <= guesses and len(guesses) > 20
    for guess in sorted(guesses):
        for payload in ({"_user_id": "root", "_fresh": True}, live):
            assert admin_page(keyless, forge(guess, payload)) == 302, guess


def test_dev_and_test_make_a_random_key_once_per_checkout(tmp_path):
    from lightserv.settings import checkout_secret_key

    path = tmp_path / "var" / "secret-key"
    key = checkout_secret_key(path)
    assert len(key.encode()) >= 32 and key not in key_like_constants()
    assert path.stat().st_mode & 0o777 == 0o600
    assert checkout_secret_key(path) == key  # kept: sessions survive a restart
    assert checkout_secret_key(tmp_path / "other-checkout") != key
    assert not list(path.parent.glob(".secret-key*"))  # no draft left behind


def test_a_truncated_key_file_is_refused_not_used(tmp_path):
    from lightserv.settings import checkout_secret_key

    path = tmp_path / "secret-key"
    path.write_text("dev\n")
    with pytest.raises(ValueError, match="shorter than 32 bytes"):
        checkout_secret_key(path)


def test_the_key_file_is_never_committed():
    assert "var/" in (ROOT / ".gitignore").read_text().split()
