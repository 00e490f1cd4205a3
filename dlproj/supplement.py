"""The supplement a paper can ship (the course report's §6.2): `python -m dlproj.report --bundle
PATH.tar.gz [--with-weights]` packs the report and the runs behind it into one archive; its
parts are listed in its own README.md (`_readme`) and in docs/report.md, *The supplement*.
The same runs give the same bytes; the archive is written whole or not at all.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from dlproj import environment as metadata
from dlproj.config import study as studies
from dlproj.errors import DlprojError
from dlproj.files.atomic import atomic_write, check_writable

ROOT = "supplement"
PACKAGES = (*metadata.PACKAGES, "scipy", "pandas", "matplotlib")
WEIGHTS = ("model.npz", "model.pt")
SUFFIXES = (".tar.gz", ".tgz")  # what --bundle writes: a gzipped tar


def _run_name(run_dir: Path, roots: Sequence[Path]) -> str:
    """A run's folder inside the supplement: its path under the outputs folder it was read
    from, with that folder's label first when there are several (`_labels`)."""
    # Every kept run was found under one of `roots` (read_runs walks them).
    root = next(r for r in roots if run_dir.resolve().is_relative_to(r.resolve()))
    rel = run_dir.resolve().relative_to(root.resolve())
    if len(roots) == 1:
        return str(rel) if rel.parts else run_dir.name  # --outputs may name the run itself
    label = _labels(roots)[root.resolve()]
    return f"{label}/{rel}" if rel.parts else label


def _labels(roots: Sequence[Path]) -> dict[Path, str]:
    """Each outputs folder's label: its name, or as many of its last path parts as tell the
    folders apart (`p1/out`, `p2/out`): two of one name would put their runs in one folder of
    the archive, one run's files over another's."""
    paths = list(dict.fromkeys(r.resolve() for r in roots))
    for depth in range(1, max(len(p.parts) for p in paths) + 1):
        labels = ["/".join(p.parts[-depth:]).lstrip("/") or "/" for p in paths]
        if len(set(labels)) == len(labels):
            break
    return dict(zip(paths, labels, strict=True))


def _run_files(run_dir: Path, *, weights: bool) -> dict[str, bytes]:
    files = {name: (run_dir / name).read_bytes()
             for name in ("metrics.csv", "results.json", *(WEIGHTS if weights else ()))
             if (run_dir / name).is_file()}
    config = json.loads(files["results.json"]).get("config") if "results.json" in files else None
    if isinstance(config, dict):
        files["config.yaml"] = yaml.safe_dump(config, sort_keys=False).encode()
    elif (run_dir / ".hydra" / "config.yaml").is_file():
        files["config.yaml"] = (run_dir / ".hydra" / "config.yaml").read_bytes()
    return files


def parts(report: Any, *, roots: Sequence[Path], study: str, weights: bool) -> dict[str, bytes]:
    """Every file of the supplement by its name under `supplement/`; `report`: build_report's."""
    out = Path(report.out_dir)
    files = {f"tables/{n}": (out / n).read_bytes()
             for n in ("results.md", "results.csv", "results.tex")}
    files |= {f"claims/{n}": (out / n).read_bytes() for n in ("claims.md", "claims.csv")}
    for png in report.figures:
        for path in (png, png.with_suffix(".pdf")):
            if path.is_file():
                files[f"figures/{path.name}"] = path.read_bytes()
    files |= {f"study/{p.name}": p.read_bytes() for p in studies.files(study)}
    # Where it is made: dlproj/environment.py's record with the report's packages too; the BLAS
    # pools in a fixed order (threadpoolctl lists them in the order they were loaded).
    env = {**metadata.collect(), "versions": metadata.versions(PACKAGES)}
    env["blas_threads"].sort(key=lambda pool: json.dumps(pool, default=str, sort_keys=True))
    files["environment.json"] = (json.dumps(env, indent=2, sort_keys=True, default=str)
                                 + "\n").encode()
    for run_dir in sorted(Path(p) for p in report.runs["path"]):
        name = _run_name(run_dir, roots)
        files |= {f"runs/{name}/{k}": v for k, v in _run_files(run_dir, weights=weights).items()}
    files["README.md"] = _readme(files, runs=len(report.runs), study=study,
                                 weights=weights).encode()
    return files


def _readme(files: dict[str, bytes], *, runs: int, study: str, weights: bool) -> str:
    def names(prefix: str) -> list[str]:
        return sorted(n.removeprefix(prefix) for n in files if n.startswith(prefix))

    figures, study_files = names("figures/"), names("study/")
    n_weights = sum(n.endswith(WEIGHTS) for n in files)
    rows = [
        ("`tables/results.md`, `.csv`, `.tex`", "the results: one row per setting, mean ± std "
         "over its seeds, beside the course report's numbers (`.csv`: long format, a line per "
         "setting and metric; `.tex`: booktabs tables)"),
        ("`claims/claims.md`, `claims.csv`", "the course report's claims judged: per pair of "
         "arms the effect, its 95% interval over seeds (Welch's t), n, the verdict and the seeds "
         "per arm for 80% power"),
        (f"`figures/` ({len(figures)} files)", "the report's cross-run figures, PNG and PDF; "
         "`claims.png`: each claim's effect and interval: " + ", ".join(figures)),
        ("`study/`", f"the study (`{study}`) as configuration: steps, the course report's "
         "numbers, figures and claims: " + ", ".join(study_files)),
        ("`environment.json`", "where this supplement was made: package versions, git commit, "
         "machine (each run's own is in its results.json, `metadata`)"),
        (f"`runs/` ({runs} runs)", "each run the report kept (one per setting and seed), in a "
         "folder named as under its outputs folder: `config.yaml` (its resolved config), "
         "`metrics.csv` (a row per epoch), `results.json` (status, final metrics, metadata)"
         + (f"; `model.npz` / `model.pt`: the final weights ({n_weights} files)" if weights
            else "; no weights (`--with-weights` adds `model.npz` / `model.pt`)")),
    ]
    return "\n".join([
        "# Supplement", "",
        f"Written by `python -m dlproj.report --bundle` from {runs} runs (study `{study}`). The "
        "same runs give the same bytes: entries sorted, every time and owner fixed.", "",
        "| part | what |", "| --- | --- |", *(f"| {a} | {b} |" for a, b in rows), "",
        "Read it with Python's tarfile and pandas:", "", "```python",
        "import tarfile", "import pandas as pd", "",
        "with tarfile.open('supplement.tar.gz') as tar:",
        f"    results = pd.read_csv(tar.extractfile('{ROOT}/tables/results.csv'))",
        f"    claims = pd.read_csv(tar.extractfile('{ROOT}/claims/claims.csv'))", "```", ""])


def check_path(path: str | Path) -> Path:
    """`path` made absolute, or why it cannot be the supplement, known before anything is built
    (the report checks it first: a long report is not made to be refused at its end): the
    OSError writing it would end in (files.atomic.check_writable), or a DlprojError for a name
    that is not a gzipped tar's (a `.zip` would hold a tar.gz all the same)."""
    path = check_writable(path)
    if not path.name.lower().endswith(SUFFIXES):
        raise DlprojError(f"--bundle: not a {' or '.join(SUFFIXES)} name: {path}. Allowed: a "
                          f"path ending in {' or '.join(SUFFIXES)} (the supplement is a gzipped "
                          "tar, read with Python's tarfile), e.g. --bundle supplement.tar.gz.")
    return path


def write(path: str | Path, files: dict[str, bytes]) -> Path:
    """`files` as a gzipped tar at `path` (checked first: check_path), under `supplement/`, the
    same bytes for the same files; written whole or not at all."""

    def fill(fh: Any) -> None:
        with gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in sorted(files):
                # TarInfo's defaults: time 1970-01-01, owner 0 and unnamed, mode 0o644
                info = tarfile.TarInfo(f"{ROOT}/{name}")
                info.size = len(files[name])
                tar.addfile(info, io.BytesIO(files[name]))

    return atomic_write(path, fill)
