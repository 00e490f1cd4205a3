"""`logger=tensorboard`: event files in the run directory, written without TensorFlow or torch.

Per epoch every numeric metrics column under its own name (x axis: epoch); per step
`step/train_loss` (x axis: step); the resolved config as hparams (HParams tab, with the run's
status at the end); every figure of the run as an image. `tensorboard --logdir outputs` shows all
runs, each named by its run directory.
"""

from __future__ import annotations

import struct
import time
from pathlib import Path
from typing import Any

from dlproj.loggers.common import figures, flat_config, numeric

# PNG colour type -> TensorBoard colorspace (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA).
_COLORSPACE = {0: 1, 4: 2, 2: 3, 6: 4, 3: 3}


def png_size(data: bytes) -> tuple[int, int, int]:
    """(height, width, colorspace) from a PNG's IHDR chunk."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return height, width, _COLORSPACE.get(data[25], 4)


class TensorBoardLogger:
    def __init__(self, steps: bool = True, figures: bool = True, hparams: bool = True,
                 flush_secs: int = 30) -> None:
        self.steps, self.images, self.hparams = steps, figures, hparams
        self.flush_secs = flush_secs
        self.writer: Any = None
        self.last_epoch = 0

    def start(self, ctx: Any) -> None:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self.writer = EventFileWriter(str(ctx.run_dir), flush_secs=self.flush_secs)
        if self.hparams:
            self._hparams_start(flat_config(ctx.cfg))

    # -- summaries -----------------------------------------------------------------------------
    def _write(self, values: list, step: int) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2

        event = event_pb2.Event(wall_time=time.time(), step=int(step),
                                summary=summary_pb2.Summary(value=values))
        self.writer.add_event(event)

    def _scalars(self, items: dict[str, float], step: int) -> None:
        from tensorboard.compat.proto import summary_pb2

        self._write([summary_pb2.Summary.Value(tag=k, simple_value=v) for k, v in items.items()],
                    step)

    def _hparams_summary(self, tag: str, data: Any) -> Any:
        from tensorboard.compat.proto import summary_pb2
        from tensorboard.plugins.hparams import metadata

        return summary_pb2.Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(data))

    def _hparams_start(self, hparams: dict[str, Any]) -> None:
        from tensorboard.plugins.hparams import metadata, plugin_data_pb2

        info = plugin_data_pb2.SessionStartInfo(start_time_secs=time.time())
        for key, value in hparams.items():
            if isinstance(value, bool):
                info.hparams[key].bool_value = value
            elif isinstance(value, (int, float)):
                info.hparams[key].number_value = value
            else:
                info.hparams[key].string_value = str(value)
        data = plugin_data_pb2.HParamsPluginData(session_start_info=info)
        self._write([self._hparams_summary(metadata.SESSION_START_INFO_TAG, data)], 0)

    def _hparams_end(self, status: str) -> None:
        from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

        code = api_pb2.STATUS_SUCCESS if status == "completed" else api_pb2.STATUS_FAILURE
        info = plugin_data_pb2.SessionEndInfo(status=code, end_time_secs=time.time())
        data = plugin_data_pb2.HParamsPluginData(session_end_info=info)
        self._write([self._hparams_summary(metadata.SESSION_END_INFO_TAG, data)], self.last_epoch)

    def _image(self, path: Path, step: int) -> None:
        from tensorboard.compat.proto import summary_pb2

        data = path.read_bytes()
        height, width, colorspace = png_size(data)
        image = summary_pb2.Summary.Image(height=height, width=width, colorspace=colorspace,
                                          encoded_image_string=data)
        self._write([summary_pb2.Summary.Value(tag=path.stem, image=image)], step)

    # -- the logger interface ------------------------------------------------------------------
    def log_step(self, step: int, values: dict[str, float]) -> None:
        if self.steps:
            self._scalars({f"step/{k}": v for k, v in numeric(values, skip=())}, step)

    def log_epoch(self, epoch: int, row: dict[str, Any]) -> None:
        self.last_epoch = int(epoch)
        self._scalars(dict(numeric(row)), epoch)

    def finish(self, record: dict[str, Any]) -> None:
        run_dir = Path(record["run_dir"])
        if not self.last_epoch:  # runs without epochs (gradcheck, ...): their final metrics
            self._scalars(dict(numeric(record.get("metrics") or {})), 0)
        if self.images:
            for path in figures(run_dir):
                self._image(path, self.last_epoch)
        if self.hparams:
            self._hparams_end(record.get("status", ""))
        self.close()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
