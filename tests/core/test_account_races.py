"""One recovery code, two logins at the same instant: exactly one passes (both databases)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from clinic.core.account import recovery_codes_issue, recovery_device_of
from tests.kit.concurrency import on_a_database_file

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _database_file(transactional_db, tmp_path):
    with on_a_database_file(tmp_path):
        yield


def test_a_recovery_code_typed_twice_at_once_logs_in_only_once(practitioner_a):
    code = recovery_codes_issue(user=practitioner_a)[0]
    start = threading.Barrier(2)
    results: list[bool] = []

    def attempt() -> None:
        try:
            device = recovery_device_of(practitioner_a)
            start.wait(timeout=10)
            results.append(device.verify_token(code))
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results) == [False, True]
    assert recovery_device_of(practitioner_a).remaining() == 9
