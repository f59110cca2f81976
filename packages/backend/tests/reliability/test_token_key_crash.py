"""A crash while ``<data-dir>/token.key`` is first created must not break queries for good.

Every query reads the key that signs ``next_token``. The key used to be created in place
(create the file, then write it), so a kill between the two left an empty ``token.key`` and
every query after the restart answered 503. The process "dies" here by an exception raised
at each step of the creation; a real ``SIGKILL`` in that window is too short to aim at.
"""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

import pytest
from iot_pipeline_backend.adapters.local import FileTokenKey


class ProcessDied(BaseException):
    """Stands for the process being killed at this instruction."""


def _dies(*_: object, **__: object) -> None:
    raise ProcessDied


@pytest.mark.parametrize(
    ("module", "name"),
    [(secrets, "token_bytes"), (os, "fsync"), (os, "link")],
    ids=["before-writing", "before-fsync", "before-linking"],
)
def test_given_the_process_dies_while_creating_the_key_when_restarted_then_a_whole_key(
    tmp_path: Path, module: object, name: str
) -> None:
    path = tmp_path / "token.key"
    # GIVEN the first process dies at one step of creating the key
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, name, _dies)
        with pytest.raises(ProcessDied):
            FileTokenKey(path).token_key()
    # WHEN the runtime restarts and a query needs the key
    key = FileTokenKey(path).token_key()
    # THEN it gets a whole key, the same one every later process reads
    assert len(key) >= 32
    assert FileTokenKey(path).token_key() == key
    assert path.stat().st_mode & 0o777 == 0o600


def test_given_two_processes_creating_the_key_at_once_then_they_agree(tmp_path: Path) -> None:
    path = tmp_path / "token.key"
    keys: list[bytes] = []
    start = threading.Barrier(8)

    def first_use() -> None:
        start.wait()
        keys.append(FileTokenKey(path).token_key())

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(keys) == 8
    assert len(set(keys)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["token.key"]
