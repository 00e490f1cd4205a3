"""The append-only CSV logs: rows appended (never rewritten), a later column still under a header,
torn last lines ignored by readers, and a resumed run cut back to its checkpoint's rows."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from dlproj.training import csvlog
from dlproj.training.csvlog import CSVLog, read_rows


@pytest.fixture
def rewrites(monkeypatch):
    calls = []
    real = csvlog.write_text

    def counting(path, text):
        calls.append(path)
        return real(path, text)

    monkeypatch.setattr(csvlog, "write_text", counting)
    return calls


def test_rows_are_appended_not_rewritten(tmp_path, rewrites):
    log = CSVLog(tmp_path / "m.csv")
    for epoch in range(1, 501):
        log.append(epoch=epoch, loss=1.0 / epoch)
        log.flush()
    assert rewrites == []
    rows = read_rows(tmp_path / "m.csv")
    assert len(rows) == 500 and rows[-1] == {"epoch": 500, "loss": 1.0 / 500}


@pytest.mark.parametrize("late_at", [2, 3, 50])
def test_a_column_that_appears_later_lands_under_a_header(tmp_path, rewrites, late_at):
    log = CSVLog(tmp_path / "m.csv")
    for epoch in range(1, 60):
        row = {"epoch": epoch, "loss": float(epoch)}
        if epoch >= late_at:
            row["val_acc"] = epoch / 100
        log.append(**row)
    log.close()
    assert len(rewrites) == 1  # once, when the column first appeared
    with open(tmp_path / "m.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert list(table[0]) == ["epoch", "loss", "val_acc"]
    assert table[late_at - 2]["val_acc"] == "" and table[late_at - 1]["val_acc"] == str(
        late_at / 100)
    assert all(None not in row for row in table)  # no value without a header


@pytest.mark.parametrize("tail", ["7,0.5", "7,", "7", "7,0.5,extra"])
def test_readers_ignore_a_torn_last_line(tmp_path, tail):
    path = tmp_path / "m.csv"
    path.write_text("epoch,loss\n1,0.9\n2,0.8\n" + tail)
    assert read_rows(path) == [{"epoch": 1, "loss": 0.9}, {"epoch": 2, "loss": 0.8}]


def test_keep_first_continues_after_the_checkpointed_rows(tmp_path):
    path = tmp_path / "m.csv"
    log = CSVLog(path)
    for epoch in range(1, 6):
        log.append(epoch=epoch, loss=np.float32(1 / epoch))
    log.close()
    with open(path, "a") as fh:
        fh.write("6,0.1")  # torn by a kill
    head = path.read_text().splitlines()[:4]
    resumed = CSVLog(path)
    resumed.keep_first(3)
    assert [r["epoch"] for r in resumed.rows] == [1, 2, 3]
    resumed.append(epoch=4, loss=0.25)
    resumed.close()
    lines = path.read_text().splitlines()
    assert lines[:4] == head  # the kept rows byte for byte
    assert lines[4] == "4,0.25" and len(lines) == 5


def test_values_round_trip_exactly(tmp_path):
    log = CSVLog(tmp_path / "m.csv")
    values = [0.1 + 0.2, np.float32(1 / 3), 1e-300, float("nan"), np.int64(7)]
    log.append(**{f"c{i}": v for i, v in enumerate(values)})
    log.close()
    (row,) = read_rows(tmp_path / "m.csv")
    assert row["c0"] == 0.1 + 0.2 and row["c1"] == float(np.float32(1 / 3))
    assert row["c2"] == 1e-300 and np.isnan(row["c3"]) and row["c4"] == 7
