"""The demo's embedded broker: kombu's filesystem transport, made safe for several processes.

kombu's filesystem `Channel._put` creates the message file in the queue folder and only then
writes the message into it. A worker that lists the folder in between claims an empty or
half-written file and fails to decode it (a JSONDecodeError that stopped the demo's worker).

`AtomicFilesystemTransport` writes each message to a hidden temporary file in the same folder
(a name the reader's filter ignores: it starts with a dot, so its queue part is never
`<queue>.msg`), fsyncs it, and only then renames it into place with `os.replace`. A rename in
one folder is atomic: a reader sees no file, or the whole message.

The reader claims a message by renaming it to a hidden name in the same folder (atomic, so two
readers never both take it; kombu moves it to the temporary folder, a copy when that is another
file system), then reads it. A file that still does not decode (left by an older writer, or
damaged on disk) is set aside as `.unreadable-<name>` and logged, and the worker goes on with
the next message instead of crashing.

Configured in clinic/settings.py for `filesystem://` broker URLs (CELERY_BROKER_TRANSPORT);
docs/architecture.md has the measurements behind choosing it (scripts/bench_broker.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from queue import Empty
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

logger = logging.getLogger(__name__)

# Prefixes of the hidden names in the queue folder. kombu's own `_size` and `_purge` compare
# the part after the first dot with `<queue>.msg`, so a name that starts with a dot is ignored.
WRITING = ".writing-"
CLAIMED = ".claimed-"
UNREADABLE = ".unreadable-"

CHUNK = 64 * 1024


def _write(fd: int, chunk: bytes) -> int:
    """One write(2); the unit tests replace it to pause half-way through a message."""
    return os.write(fd, chunk)


def write_atomically(folder: str, name: str, data: bytes) -> str:
    """Write `data` as `folder/name` so that no reader ever sees part of it; returns the path."""
    final = os.path.join(folder, name)
    temporary = os.path.join(folder, WRITING + name)
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                written = _write(fd, view[:CHUNK])
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, final)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return final


class AtomicFilesystemChannel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put `payload` onto `queue`: whole or not at all."""
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        try:
            write_atomically(self.data_folder_out, name, str_to_bytes(dumps(payload)))
        except OSError as exc:
            raise ChannelError(f"Cannot add file {name!r} to directory") from exc

    def _get(self, queue):
        """Claim, read and remove the oldest message of `queue`; raise Empty if there is none."""
        wanted = f"{queue}.msg"
        folder = self.data_folder_in
        for name in sorted(os.listdir(folder)):
            if name.partition(".")[2] != wanted:
                continue
            claimed = os.path.join(folder, CLAIMED + name)
            try:
                os.rename(os.path.join(folder, name), claimed)
            except OSError:
                continue  # another reader took it first
            try:
                with open(claimed, "rb") as f:
                    data = f.read()
            except OSError as exc:
                raise ChannelError(f"Cannot read file {name!r} from queue.") from exc
            try:
                payload = loads(bytes_to_str(data))
            except ValueError:
                # Never the message's content in the log: it may name a patient's row.
                logger.error(
                    "broker: message %s on queue %s does not decode (%d bytes); set aside as %s",
                    name,
                    queue,
                    len(data),
                    UNREADABLE + name,
                )
                with contextlib.suppress(OSError):
                    os.replace(claimed, os.path.join(folder, UNREADABLE + name))
                continue
            if self.store_processed:
                os.replace(claimed, os.path.join(self.processed_folder, name))
            else:
                os.remove(claimed)
            return payload
        raise Empty()


class AtomicFilesystemTransport(filesystem.Transport):
    """kombu's filesystem transport with atomic puts and claims (see the module docstring)."""

    Channel = AtomicFilesystemChannel
