"""The PII vault: AES-256-GCM field encryption with key versions, and keyed blind indexes.

Ciphertext tokens look like ``v2$<base64url(nonce || ciphertext || tag)>``; the associated data
binds a token to its field and hospital, so a ciphertext copied into another column or tenant
does not decrypt. Blind indexes are HMAC-SHA256 under a separate key (REQ-SEC-002), scoped per
hospital so the same mobile number does not link patients across tenants.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

NONCE_BYTES = 12


class VaultError(Exception):
    """A token could not be decrypted (wrong key, tampered or moved ciphertext)."""


@dataclass(frozen=True)
class Keyring:
    keys: dict[int, AESGCM]
    active_version: int
    index_key: bytes


def _decode_key(text: str, *, name: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImproperlyConfigured(f"{name} must be base64") from exc
    if len(key) != 32:
        raise ImproperlyConfigured(f"{name} must decode to 32 bytes (AES-256), got {len(key)}")
    return key


@functools.lru_cache(maxsize=8)
def _build_keyring(spec: str, active: int, index_key_text: str) -> Keyring:
    keys: dict[int, AESGCM] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        version_text, _, key_text = part.partition(":")
        try:
            version = int(version_text)
        except ValueError as exc:
            raise ImproperlyConfigured("XINQIAO_PII_KEYS entries look like '1:base64key'") from exc
        if version < 1:
            raise ImproperlyConfigured("PII key versions start at 1")
        keys[version] = AESGCM(_decode_key(key_text, name=f"PII key version {version}"))
    if not keys:
        raise ImproperlyConfigured("XINQIAO_PII_KEYS holds no key")
    active_version = active or max(keys)
    if active_version not in keys:
        raise ImproperlyConfigured(f"the active PII key version {active_version} is not in XINQIAO_PII_KEYS")
    try:
        index_key = base64.b64decode(index_key_text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImproperlyConfigured("XINQIAO_BLIND_INDEX_KEY must be base64") from exc
    if len(index_key) < 32:
        raise ImproperlyConfigured("XINQIAO_BLIND_INDEX_KEY must decode to at least 32 bytes")
    return Keyring(keys=keys, active_version=active_version, index_key=index_key)


def keyring() -> Keyring:
    return _build_keyring(
        settings.XINQIAO_PII_KEYS, settings.XINQIAO_PII_ACTIVE_KEY_VERSION, settings.XINQIAO_BLIND_INDEX_KEY
    )


def active_key_version() -> int:
    return keyring().active_version


def encrypt(plaintext: str, *, context: str, version: int | None = None) -> str:
    ring = keyring()
    version = version or ring.active_version
    nonce = os.urandom(NONCE_BYTES)
    sealed = ring.keys[version].encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
    return f"v{version}${base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"


def token_version(token: str) -> int:
    head, sep, _ = token.partition("$")
    if not sep or not head.startswith("v"):
        raise VaultError("malformed token")
    try:
        return int(head[1:])
    except ValueError as exc:
        raise VaultError("malformed token") from exc


def decrypt(token: str, *, context: str) -> str:
    ring = keyring()
    version = token_version(token)
    key = ring.keys.get(version)
    if key is None:
        raise VaultError(f"no key for version {version}")
    try:
        raw = base64.urlsafe_b64decode(token.partition("$")[2])
        return key.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode("utf-8")).decode("utf-8")
    except (InvalidTag, binascii.Error, ValueError) as exc:
        raise VaultError("token does not decrypt") from exc


def blind_index(value: str, *, kind: str, hospital_id: int) -> str:
    """128-bit keyed digest for equality lookups without decryption."""
    message = f"{kind}|{hospital_id}|{value}".encode()
    return hmac.new(keyring().index_key, message, hashlib.sha256).hexdigest()[:32]


def field_context(field: str, hospital_id: int) -> str:
    return f"patient.{field}|h{hospital_id}"
