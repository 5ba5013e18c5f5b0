"""Recovery codes: how they look, how they are drawn, how they are hashed.

A code is ten characters from an alphabet without look-alikes (no 0/o, 1/l/i), shown in
groups as `abcd-efgh-jk` (about 50 bits). Only a salted PBKDF2 hash is stored; checking one
costs a few milliseconds, so a stolen table cannot be tried quickly, while a login that tries
all ten remaining hashes stays well under a second.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from django.utils.crypto import constant_time_compare

ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
CODE_LENGTH = 10
CODES_PER_SET = 10
ALGORITHM = "pbkdf2_sha256"
ITERATIONS = 20_000


def new_recovery_code() -> str:
    """A fresh code as shown to the user: `abcd-efgh-jk`."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def normalise_recovery_code(typed: str) -> str | None:
    """What the user typed, lower-case without spaces or hyphens; None if it cannot be one."""
    cleaned = "".join(c for c in (typed or "").lower() if c not in " -\t")
    if len(cleaned) != CODE_LENGTH or any(c not in ALPHABET for c in cleaned):
        return None
    return cleaned


def looks_like_recovery_code(typed: str) -> bool:
    return normalise_recovery_code(typed) is not None


def _digest(normalised: str, salt: str, iterations: int) -> str:
    raw = hashlib.pbkdf2_hmac("sha256", normalised.encode(), salt.encode(), iterations)
    return base64.b64encode(raw).decode("ascii")


def hash_recovery_code(code: str) -> str:
    """`pbkdf2_sha256$<iterations>$<salt>$<hash>` of the normalised code."""
    normalised = normalise_recovery_code(code)
    if normalised is None:
        raise ValueError("not a recovery code")
    salt = secrets.token_hex(12)
    return f"{ALGORITHM}${ITERATIONS}${salt}${_digest(normalised, salt, ITERATIONS)}"


def check_recovery_code(normalised: str, hashed: str) -> bool:
    try:
        algorithm, iterations, salt, digest = hashed.split("$", 3)
    except ValueError:
        return False
    if algorithm != ALGORITHM:
        return False
    return constant_time_compare(_digest(normalised, salt, int(iterations)), digest)
