import os
from pathlib import Path

import pytest

from controlplane.state.redo import RedoLog, log_files, records


def test_records_after_a_failed_append_go_to_a_new_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = tmp_path / "s.sqlite"
    redo = RedoLog(database, 1)
    redo.append([("put", "d", "a", b"1")])
    real_write = os.write

    def disk_full_after_a_few_bytes(fd: int, data: bytes) -> int:
        if len(data) > 5:
            return real_write(fd, bytes(data[:5]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", disk_full_after_a_few_bytes)
    with pytest.raises(OSError):
        redo.append([("put", "d", "b", b"2")])
    monkeypatch.setattr(os, "write", real_write)
    redo.append([("put", "d", "c", b"3")])
    redo.close()
    replayed = [op[2] for _, path in log_files(database) for batch in records(path) for op in batch]
    assert replayed == ["a", "c"]  # the torn record is skipped, not what was acknowledged after it
