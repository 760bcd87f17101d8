from __future__ import annotations

import base64
import os

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from xinqiao.core import vault


def test_round_trip_and_fresh_nonce():
    first = vault.encrypt("13800138000", context="patient.mobile|h1")
    second = vault.encrypt("13800138000", context="patient.mobile|h1")
    assert first != second
    assert first.startswith("v1$")
    assert vault.decrypt(first, context="patient.mobile|h1") == "13800138000"
    assert "13800138000" not in first


def test_ciphertext_bound_to_field_and_hospital():
    token = vault.encrypt("13800138000", context="patient.mobile|h1")
    with pytest.raises(vault.VaultError):
        vault.decrypt(token, context="patient.mobile|h2")
    with pytest.raises(vault.VaultError):
        vault.decrypt(token, context="patient.name|h1")


def test_tampering_is_detected():
    token = vault.encrypt("13800138000", context="c")
    raw = bytearray(base64.urlsafe_b64decode(token.split("$", 1)[1]))
    raw[-1] ^= 1
    tampered = "v1$" + base64.urlsafe_b64encode(bytes(raw)).decode()
    with pytest.raises(vault.VaultError):
        vault.decrypt(tampered, context="c")
    with pytest.raises(vault.VaultError):
        vault.decrypt("garbage", context="c")


def test_key_versions():
    k1 = base64.b64encode(os.urandom(32)).decode()
    k2 = base64.b64encode(os.urandom(32)).decode()
    with override_settings(XINQIAO_PII_KEYS=f"1:{k1}"):
        old = vault.encrypt("x", context="c")
    with override_settings(XINQIAO_PII_KEYS=f"1:{k1},2:{k2}"):
        assert vault.active_key_version() == 2
        assert vault.decrypt(old, context="c") == "x"
        assert vault.encrypt("x", context="c").startswith("v2$")
    with override_settings(XINQIAO_PII_KEYS=f"2:{k2}"), pytest.raises(vault.VaultError):
        vault.decrypt(old, context="c")


@pytest.mark.parametrize("spec", ["", "1:notbase64!", "1:" + base64.b64encode(b"short").decode(), "x:abc"])
def test_bad_key_configuration_fails_loudly(spec):
    with override_settings(XINQIAO_PII_KEYS=spec), pytest.raises(ImproperlyConfigured):
        vault.encrypt("x", context="c")


def test_blind_index_is_keyed_and_scoped_per_hospital():
    a = vault.blind_index("13800138000", kind="mobile", hospital_id=1)
    assert a == vault.blind_index("13800138000", kind="mobile", hospital_id=1)
    assert a != vault.blind_index("13800138000", kind="mobile", hospital_id=2)
    assert a != vault.blind_index("13800138000", kind="id_number", hospital_id=1)
    other_key = base64.b64encode(os.urandom(32)).decode()
    with override_settings(XINQIAO_BLIND_INDEX_KEY=other_key):
        assert a != vault.blind_index("13800138000", kind="mobile", hospital_id=1)
    assert len(a) == 32
