"""The progress display on a real terminal: a pseudo-terminal 80 columns wide, what it shows.

The run's output is replayed on a small screen model (carriage return, line feed, wrapping at 80
columns: all tqdm and the logging use here), and the screen's lines are checked: log lines start
at column 0 above the bar and never share a line with it; the bar fits, names the epoch and the
evaluation phase, keeps the monitored metric, and ends at 100%. A terminal that reports no size
(0 rows or columns) or a tiny one still gets a bar that fits."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import sys
import termios

import pytest
from conftest import ROOT

COLUMNS = 80


def _screen(data: str, width: int = COLUMNS) -> tuple[list[str], list[str]]:
    """(the lines a terminal shows at the end, every state a line was drawn in before a `\\r`)."""
    lines, line, col, drawn = [], [" "] * width, 0, []
    for ch in data:
        if ch == "\r":
            drawn.append("".join(line).rstrip())
            col = 0
        elif ch == "\n":
            lines.append("".join(line).rstrip())
            line, col = [" "] * width, 0
        else:
            if col == width:  # autowrap
                lines.append("".join(line).rstrip())
                line, col = [" "] * width, 0
            line[col], col = ch, col + 1
    lines.append("".join(line).rstrip())
    return [x for x in lines if x], drawn


def _run_on_a_terminal(args: list[str], outputs, rows: int = 40, cols: int = COLUMNS) -> str:
    pid, fd = pty.fork()
    if pid == 0:  # the child: a run whose stderr and stdout are the terminal
        os.chdir(ROOT)
        os.environ.pop("DLPROJ_PROGRESS", None)
        os.environ.update(DLPROJ_OUTPUTS=str(outputs), COLUMNS=str(cols), LINES=str(rows))
        os.execv(sys.executable, [sys.executable, "-m", "dlproj", *args])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    out = b""
    while select.select([fd], [], [], 120)[0]:
        try:
            chunk = os.read(fd, 1 << 16)
        except OSError:  # the child has gone
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out.decode(errors="replace")[-3000:]
    return out.decode()


def test_the_bar_and_the_log_lines_on_an_80_column_terminal(tmp_path):
    text = _run_on_a_terminal(["section=3", "data.train_limit=640", "data.val_size=2000",
                               "data.test_limit=2000", "train.epochs=3"], tmp_path)
    lines, drawn = _screen(text)
    logs = [x for x in lines if "][dlproj][" in x]
    assert len(logs) >= 5 and all(x.startswith("[20") for x in logs), lines
    bars = [x for x in lines if "%|" in x]
    assert not [x for x in lines if "%|" in x and "[dlproj]" in x], lines
    # The bar that stays: the whole run at 100%, its last epoch, the loss and the metric.
    (last,) = bars
    assert last.startswith("s3 cnn epoch 3/3: 100%|"), last
    assert "loss=" in last and "val_acc=" in last and len(last) <= COLUMNS, last
    # Every state it was drawn in fits and keeps the metric once an epoch has one; the
    # evaluation is a phase of its own; the bar only moves forward.
    states = [x for x in drawn if "%|" in x]
    assert all(len(x) <= COLUMNS for x in states)
    assert any(" eval: " in x for x in states), states
    after_first = [x for x in states if not x.startswith("s3 cnn epoch 1/3")]
    assert after_first and all("val_acc=" in x for x in after_first), after_first
    done = [int(x.split("%|")[0][-3:]) for x in states]
    assert done == sorted(done) and done[-1] == 100, done
    # Log files stay plain lines.
    (log,) = tmp_path.rglob("dlproj.log")
    assert "%|" not in log.read_text() and "\r" not in log.read_text()


@pytest.mark.parametrize("rows, cols", [(0, 0), (40, 0), (0, 80), (40, 1), (40, 10), (40, 20)])
def test_a_terminal_of_no_size_or_a_tiny_one_still_gets_a_bar_that_fits(tmp_path, rows, cols):
    """A pty never sized reports 0x0 (some CI runners, `script`), `stty cols 0` 0 columns: the
    bar is drawn as on 80 columns (shutil.get_terminal_size's fallback). On a terminal narrower
    than the bar, what is drawn is cut to fit: no line of the bar wraps."""
    text = _run_on_a_terminal(["section=2", "data.train_limit=320", "data.val_size=500",
                               "data.test_limit=500", "train.epochs=1", "figures=false"],
                              tmp_path, rows, cols)
    width = max((cols or COLUMNS) - 1, 1)  # tqdm leaves the last column free, where it can
    drawn = [x for x in re.split("[\r\n]", text) if x.strip() and not x.startswith("[20")]
    assert drawn and all(x.startswith("s2 train epoch 1/1"[:width]) for x in drawn), drawn
    assert all(len(x) <= width for x in re.split("[\r\n]", text) if not x.startswith("[20"))
    if width >= 40:  # room for the bar itself: it fills the line and ends at 100%
        assert "100%|" in drawn[-1] and len(drawn[-1]) == width, drawn


@pytest.mark.parametrize("losses", [[4.0, 1.0, 1.0], [2.3] + [0.3] * 20, [5.0] * 3 + [0.1] * 60])
def test_the_bars_loss_is_a_recent_average_from_the_first_steps(losses, monkeypatch, capsys):
    """The loss beside the bar weighs recent steps most from the start (a moving average started
    at the first loss showed mostly that one for a run of a few dozen steps: 1.855 at the end of
    a run whose last epoch's train_loss was 0.285)."""
    from dlproj.training.progress import RunBar

    monkeypatch.setenv("DLPROJ_PROGRESS", "1")
    bar = RunBar(epochs=1, per_epoch=len(losses))
    for loss in losses:
        bar.step(loss)
    w = [0.98 ** (len(losses) - 1 - i) for i in range(len(losses))]
    assert bar._loss == pytest.approx(sum(a * b for a, b in zip(w, losses, strict=True)) / sum(w))
    assert bar._loss < (losses[0] + losses[-1]) / 2  # nearer the recent losses than the first
    bar.close(finished=True)


@pytest.mark.parametrize("stopped_after", [5, 10])
def test_the_bar_ends_at_the_last_epoch_run(stopped_after, monkeypatch, capsys):
    """A run that stopped early after epoch 5 of 10 ends its bar at `epoch 5/10` (it said 6/10,
    an epoch that never ran); one that ran them all at 10/10, at 100%."""
    from dlproj.training.progress import RunBar

    monkeypatch.setenv("DLPROJ_PROGRESS", "1")
    bar = RunBar(epochs=10, per_epoch=2)
    for epoch in range(1, stopped_after + 1):
        bar.step(1.0)
        bar.step(1.0)
        bar.evaluating()
        bar.epoch_done({"epoch": epoch, "val_acc": 0.5})
    bar.close(finished=True)
    last = capsys.readouterr().err.split("\r")[-1]
    assert f"epoch {stopped_after}/10: 100%" in last, last
