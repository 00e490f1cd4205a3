"""`logger=tensorboard`: event files in RUN_DIR/tensorboard/<setting label> seed=N/ (TensorBoard
names a run by its folder; a resumed run goes on in the folder it began in, one hparams session),
written without TensorFlow or torch; what they hold: README.md, "Trackers". `tensorboard --logdir
outputs` shows every run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from dlproj.loggers import Tracker, flat_config, numeric, run_name


def _written(path: Path) -> tuple[float, str]:
    """An event file's time, as its name gives it (events.out.tfevents.TIME.HOST...)."""
    stamp = path.name.split(".")[3] if path.name.count(".") >= 3 else ""
    return (float(stamp) if stamp.isdigit() else float("inf"), path.name)


class TensorBoardLogger(Tracker):
    def __init__(self, steps: bool = True, figures: bool = True, hparams: bool = True,
                 flush_secs: int = 30) -> None:
        super().__init__(steps)
        self.images, self.hparams, self.flush_secs = figures, hparams, flush_secs
        self.writer: Any = None

    def start(self, ctx: Any) -> None:
        from tensorboard.plugins.hparams.summary_v2 import hparams_pb
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        root = ctx.run_dir / "tensorboard"
        folder = root / run_name(ctx, 200).replace("/", "∕")
        if ctx.resuming:  # one TensorBoard run per run: its first session's folder, whatever
            # the label says now (a resume's train.epochs=N is part of it)
            folder = min(root.glob("*/events.out.tfevents.*"), key=_written,
                         default=folder / "_").parent
        began = any(folder.glob("events.out.tfevents.*"))  # a resumed run's session goes on
        self.writer = EventFileWriter(str(folder), flush_secs=self.flush_secs)
        if self.hparams and not began:  # trial_id "": each run is a session group of its own
            self._write(0, *hparams_pb(flat_config(ctx.cfg), trial_id="").value)

    def _write(self, step: int, *values: Any) -> None:
        """One event at `step` holding the summary values (protos, or dicts of their fields)."""
        from tensorboard.compat.proto import event_pb2, summary_pb2

        event = event_pb2.Event(wall_time=time.time(), step=int(step),
                                summary=summary_pb2.Summary(value=values))
        self.writer.add_event(event)

    def scalars(self, items: dict[str, float], step: int) -> None:
        self._write(step, *({"tag": k, "simple_value": v} for k, v in items.items()))

    def finish(self, record: dict[str, Any]) -> None:
        from PIL import Image
        from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

        if not self.last_epoch:  # runs without epochs (gradcheck, ...): their final metrics
            self.scalars(dict(numeric(record.get("metrics") or {})), 0)
        for path in sorted(Path(record["run_dir"]).glob("*.png")) if self.images else ():
            with Image.open(path) as png:  # the PNG as it is; its size and channels from Pillow
                size = {"height": png.height, "width": png.width, "colorspace": len(png.getbands())}
            image = {**size, "encoded_image_string": path.read_bytes()}
            self._write(self.last_epoch, {"tag": path.stem, "image": image})
        # The hparams session's end, success only for a completed run; none for an interrupted
        # one, which a resume continues: TensorBoard keeps the first end of a run's session
        # alone (a tag's first metadata), so a FAILURE here stood after the resume completed.
        if self.hparams and record.get("status") != "interrupted":
            code = (api_pb2.STATUS_SUCCESS if record.get("status") == "completed"
                    else api_pb2.STATUS_FAILURE)
            data = plugin_data_pb2.HParamsPluginData(
                session_end_info={"status": code, "end_time_secs": time.time()})
            self._write(self.last_epoch, {"tag": metadata.SESSION_END_INFO_TAG,
                                          "metadata": metadata.create_summary_metadata(data)})
        self.close()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
