"""An SMS "provider" for fault tests that writes down every send, across processes.

Worker subprocesses load it with SMS_BACKEND=tests.faults.recording.RecordingSMSBackend and
RECORDING_SMS_LOG=<file> (RECORDING_SMS_LATENCY=<seconds> makes it answer slowly). Like a
real provider that honours idempotency keys (Twilio's I-Twilio-Idempotency-Token), a repeated
key is not delivered again: the provider answers with the id it gave the first time. Every
attempt is still written down, so a test can count deliveries (one per key at most) apart from
raw attempts (repeats absorbed by the key).

One line per attempt, written with a single O_APPEND write under an exclusive lock (the lock
makes "have I seen this key?" and the append one step when several workers send at once):

    <idempotency key> <provider id> <delivered|repeat> <pid> <unix time>
"""

from __future__ import annotations

import fcntl
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

LOG_VARIABLE = "RECORDING_SMS_LOG"
# Seconds the provider takes to answer after it has accepted a message (default: none).
LATENCY_VARIABLE = "RECORDING_SMS_LATENCY"


class RecordingSMSBackend:
    """Records each send in the file named by $RECORDING_SMS_LOG; one delivery per key."""

    def send(self, *, to: str, body: str, idempotency_key: str) -> str:
        path = os.environ[LOG_VARIABLE]
        provider_id = f"rec-{uuid.uuid5(uuid.NAMESPACE_URL, idempotency_key).hex[:20]}"
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            seen = f"{idempotency_key} ".encode() in _read_all(fd)
            outcome = "repeat" if seen else "delivered"
            line = f"{idempotency_key} {provider_id} {outcome} {os.getpid()} {time.time():.3f}\n"
            os.write(fd, line.encode())  # one write with O_APPEND: never interleaved
        finally:
            os.close(fd)  # releases the lock
        # Accepted, but the answer is still on its way: a crash now leaves a sent message
        # that the database does not yet know was sent.
        time.sleep(float(os.environ.get(LATENCY_VARIABLE) or 0))
        return provider_id


def _read_all(fd: int) -> bytes:
    chunks = []
    offset = 0
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


@dataclass
class Recording:
    """What the provider saw: attempts per key, and deliveries per key."""

    attempts: Counter = field(default_factory=Counter)
    deliveries: Counter = field(default_factory=Counter)
    provider_ids: dict[str, set[str]] = field(default_factory=dict)

    @property
    def delivered_keys(self) -> set[str]:
        return set(self.deliveries)

    @property
    def raw_repeats(self) -> int:
        """Attempts beyond the first per key: sends the idempotency key had to absorb."""
        return sum(self.attempts.values()) - len(self.attempts)

    @property
    def repeated_keys(self) -> set[str]:
        return {key for key, count in self.attempts.items() if count > 1}

    @property
    def delivered_twice(self) -> set[str]:
        """Keys the provider delivered more than once (must always be empty)."""
        return {key for key, count in self.deliveries.items() if count > 1}


def read_recording(path: Path) -> Recording:
    recording = Recording()
    if not path.exists():
        return recording
    for line in path.read_text().splitlines():
        key, provider_id, outcome, _pid, _at = line.split()
        recording.attempts[key] += 1
        if outcome == "delivered":
            recording.deliveries[key] += 1
        recording.provider_ids.setdefault(key, set()).add(provider_id)
    return recording
