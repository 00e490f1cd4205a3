"""The course report's claims judged (dlproj/claims/): the statistics against scipy and the
textbook, the verdicts, which runs an arm compares, bad input (no runs, one seed, NaN, failed
runs), and what the report writes (claims.md, claims.csv, the figure, index.md)."""

from __future__ import annotations

import csv
import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from test_report import curve, make_run

from dlproj.claims.judge import arms, compare, judge, seeds_for_power
from dlproj.config.study import Claim

POOLING = Claim(id="max_pooling", quote="Max pooling beats average.", report_section="6.1",
                section=3, experiment="cnn", match={"model.name": "cnn_small"},
                arms={"average": {"pooling.name": "avg"}, "max": {"pooling.name": "max"}},
                metric="test_acc", direction="higher")


def runs_frame(*runs: dict) -> pd.DataFrame:
    """The report's kept runs as read_runs + dedupe leave them, from (pooling, seed, metrics,
    status, curve, config) dicts: Section 3 CNN runs, one setting per config."""
    rows = []
    for i, run in enumerate(runs):
        config = {"section": 3, "experiment": "cnn", "model.name": "cnn_small",
                  "train.epochs": 2, "pooling.name": run.get("pooling", "max"),
                  **run.get("config", {})}
        rows.append({"path": f"run{i}", "section": 3, "experiment": "cnn",
                     "seed": run.get("seed", 0), "status": run.get("status", "completed"),
                     "setting": repr(sorted(config.items())),
                     "label": f"pooling={config['pooling.name']}", "config": config,
                     "metrics": run.get("metrics", {}), "curve": run.get("curve")})
    return pd.DataFrame(rows)


def arm_runs(pooling: str, values: list, **extra) -> list[dict]:
    return [{"pooling": pooling, "seed": seed, "metrics": {"test_acc": v}, **extra}
            for seed, v in enumerate(values)]


# -- the statistics ------------------------------------------------------------------------

def test_seeds_for_80_percent_power_are_the_textbooks():
    # Cohen (1988), two-sided alpha = 0.05, power 0.8: d = 0.5 -> 64, 0.8 -> 26, 1.0 -> 17 per
    # arm; equal variances make Welch's df the two-sample t-test's.
    assert [seeds_for_power(d, 1.0, 1.0) for d in (0.5, 0.8, 1.0)] == [64, 26, 17]
    assert [seeds_for_power(2 * d, 4.0, 4.0) for d in (0.5, 0.8, 1.0)] == [64, 26, 17]
    # Unequal variances: Welch's df is smaller, so it takes more seeds than the pooled SD says.
    assert seeds_for_power(1.0, 0.2, 1.8) > 17
    assert seeds_for_power(0.0, 1.0, 1.0) == seeds_for_power(1e-4, 1.0, 1.0) == math.inf
    assert seeds_for_power(0.1, 0.0, 0.0) == 2


def test_the_interval_is_welchs_and_the_verdict_follows_its_side():
    a, b = np.array([0.90, 0.91, 0.93]), np.array([0.95, 0.97, 0.96])
    got = compare(a, b, ratio=False, direction="higher")
    ci = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert (got["low"], got["high"]) == pytest.approx((ci.low, ci.high))
    assert got["effect"] == pytest.approx(b.mean() - a.mean()) and got["verdict"] == "supported"
    assert compare(a, b, ratio=False, direction="lower")["verdict"] == "contradicted"
    assert got["seeds_needed"] == seeds_for_power(b.mean() - a.mean(), a.var(ddof=1),
                                                  b.var(ddof=1)) == 3
    close = compare(a, a + 0.001, ratio=False, direction="higher")
    assert close["verdict"] == "inconclusive at n = 3" and close["low"] < 0 < close["high"]
    assert close["seeds_needed"] > 3


def test_a_ratio_is_of_geometric_means_its_interval_on_log_values():
    a, b = np.array([1e-2, 3e-2, 2e-2]), np.array([2e-9, 1e-9, 4e-9])
    got = compare(a, b, ratio=True, direction="lower")
    assert got["effect"] == pytest.approx(stats.gmean(b) / stats.gmean(a))
    ci = stats.ttest_ind(np.log10(b), np.log10(a), equal_var=False).confidence_interval()
    assert (got["low"], got["high"]) == pytest.approx((10 ** ci.low, 10 ** ci.high))
    assert got["verdict"] == "supported" and got["high"] < 1


@pytest.mark.parametrize("a, b, verdict, interval", [
    ([], [0.9, 0.91], "not run yet", False),
    ([0.9], [0.95, 0.96], "inconclusive: one seed", False),
    ([0.9, 0.9], [0.95, 0.95], "supported", True),  # no spread: the difference is exact
    ([0.90, 0.92], [0.91, 0.95, 0.90], "inconclusive at n = 2/3", True),
])
def test_few_seeds_give_the_verdict_they_allow(a, b, verdict, interval):
    got = compare(np.array(a), np.array(b), ratio=False, direction="higher")
    assert got["verdict"] == verdict
    assert math.isfinite(got["low"]) is interval
    assert math.isfinite(got["effect"]) is bool(a and b)


# -- which runs an arm compares, and bad input ---------------------------------------------

@pytest.mark.parametrize("runs, verdict, n, excluded", [
    pytest.param(arm_runs("max", [0.95, 0.96, 0.97]), "not run yet", (0, 3), "",
                 id="an arm without runs"),
    pytest.param([{"pooling": p, "seed": s, "metrics": {"val_acc": 0.9}}
                  for p in ("avg", "max") for s in range(2)], "not run yet", (0, 0),
                 "average: 2 no test_acc; max: 2 no test_acc", id="a metric no run has"),
    pytest.param(arm_runs("avg", [0.90]) + arm_runs("max", [0.95, 0.96]),
                 "inconclusive: one seed", (1, 2), "", id="one seed"),
    pytest.param(arm_runs("avg", [0.90, 0.91, 0.92]) + arm_runs("max", [0.95, float("nan"),
                                                                          0.96]),
                 "supported", (3, 2), "max: 1 NaN", id="a NaN metric"),
    pytest.param(arm_runs("avg", [0.90, 0.91]) + arm_runs("max", [0.95, 0.96])
                 + [{"pooling": "avg", "seed": 2, "status": "failed"}],
                 "supported", (2, 2), "average: 1 failed", id="a failed run"),
])
def test_bad_input_is_a_row_never_a_crash(runs, verdict, n, excluded):
    (row,) = judge([POOLING], runs_frame(*runs)).to_dict("records")
    assert (row["verdict"], (row["n_a"], row["n_b"]), row["excluded"]) == (verdict, n, excluded)


def test_no_runs_at_all_is_not_run_yet_for_every_pair():
    table = judge([POOLING], runs_frame())
    assert list(table["verdict"]) == ["not run yet"] and list(table["n_a"]) == [0]


def test_the_arms_come_from_the_family_with_the_most_seeds():
    """Another budget is another family, never pooled; the one with the most seeds is judged."""
    full = arm_runs("avg", [0.90, 0.91, 0.92]) + arm_runs("max", [0.95, 0.96, 0.97])
    short = [{**r, "config": {"train.epochs": 1}} for r in arm_runs("avg", [0.5])
             + arm_runs("max", [0.4])]
    judged = arms(POOLING, runs_frame(*short, *full))
    assert [list(a.values) for a in judged] == [[0.90, 0.91, 0.92], [0.95, 0.96, 0.97]]
    assert [a.seeds for a in judged] == [[0, 1, 2]] * 2


OPTIMIZERS = Claim(id="adaptive", quote="Adam beats SGD.", report_section="6.1", section=2,
                   experiment="train", match={}, metric="val_acc", direction="higher",
                   arms={"SGD": {"optimizer.name": "sgd"}, "Adam": {"optimizer.name": "adam"}})
RESIDUAL = Claim(id="residual", quote="Residual beats plain.", report_section="6.1", section=4,
                 experiment="compare", match={}, metric="val_acc", direction="higher",
                 arms={"PlainNet": {"model.name": "plain"},
                       "SmallResNet": {"model.name": "resnet"}})
LR = {"sgd": 0.1, "adam": 0.001}  # each optimizer's own (conf/optimizer/)


def claim_runs(claim: Claim, *runs: tuple[dict, int, float]) -> pd.DataFrame:
    """The report's kept runs of `claim`'s experiment from (config, seed, value) triples."""
    rows = []
    for i, (config, seed, value) in enumerate(runs):
        config = {"section": claim.section, "experiment": claim.experiment, **config}
        rows.append({"path": f"run{i}", "section": claim.section, "experiment": claim.experiment,
                     "seed": seed, "status": "completed", "setting": repr(sorted(config.items())),
                     "label": " ".join(f"{k}={v}" for k, v in config.items() if "." in k),
                     "config": config, "metrics": {claim.metric: value}, "curve": None})
    return pd.DataFrame(rows)


def optimizer_runs(name: str, values: list[float], lr: float | None = None) -> list[tuple]:
    return [({"optimizer.name": name, "optimizer.lr": LR[name] if lr is None else lr}, seed, v)
            for seed, v in enumerate(values)]


def net_runs(name: str, values: list[float], depth: int = 8, width: int = 16,
             seeds: range | None = None) -> list[tuple]:
    return [({"model.name": name, "model.depth": depth, "model.width": width}, seed, v)
            for seed, v in zip(seeds or range(len(values)), values, strict=True)]


def test_a_key_the_arms_choices_set_otherwise_is_compared_one_they_set_alike_is_not():
    """SGD and Adam differ in optimizer.lr by their choice (conf/optimizer/): one family. The
    depth sweep's model.depth, 8 in both plain and resnet, varies within each network: a family
    per depth, never pooled."""
    runs = claim_runs(OPTIMIZERS, *optimizer_runs("sgd", [0.90, 0.91]),
                      *optimizer_runs("adam", [0.95, 0.96]))
    assert [len(a.values) for a in arms(OPTIMIZERS, runs)] == [2, 2]
    swept = claim_runs(RESIDUAL, *(run for depth, less in ((8, 0.0), (4, 0.5)) for run in [
        *net_runs("plain", [0.90 - less, 0.91 - less, 0.92], depth),
        *net_runs("resnet", [0.95 - less, 0.96 - less], depth)]))
    judged = arms(RESIDUAL, swept)
    assert [list(a.values.round(4)) for a in judged] in ([[0.90, 0.91, 0.92], [0.95, 0.96]],
                                                [[0.40, 0.41, 0.92], [0.45, 0.46]])
    assert not any(a.note for a in judged)  # one setting per arm: the depths never pooled


@pytest.mark.parametrize("extra", [
    optimizer_runs("adam", [0.5], lr=0.01),  # another setting of one arm
    optimizer_runs("adam", [0.5, 0.5, 0.5], lr=0.01),  # ... with more seeds
    optimizer_runs("sgd", [0.5], lr=0.05) + optimizer_runs("adam", [0.5], lr=0.01),  # each arm
])
def test_another_value_of_a_chosen_key_in_one_arm_leaves_the_other_arms_judged(extra):
    """Each arm at its choice's own value (SGD at lr 0.1, Adam at 0.001): one more run of one arm
    at another value is another setting of that arm, not a family that leaves the others out
    (an Adam run at lr=0.01 left SGD `not run yet`)."""
    runs = claim_runs(OPTIMIZERS, *optimizer_runs("sgd", [0.90, 0.91]),
                      *optimizer_runs("adam", [0.95, 0.96]), *extra)
    judged = arms(OPTIMIZERS, runs)
    assert all(len(a.values) >= 2 for a in judged), [(a.label, a.values) for a in judged]
    assert judged[0].note or judged[1].note  # the other setting is named, not pooled


@pytest.mark.parametrize("resnet_at_8, judged_values", [
    ([0], [[0.90, 0.91], [0.95]]),  # the like-for-like pair, with the seeds it has
    ([], [[0.90, 0.91], []]),  # none: SmallResNet not run yet at PlainNet's depth
    ([0, 1], [[0.90, 0.91], [0.95, 0.96]]),
])
def test_a_key_the_arms_set_alike_is_never_compared_across_values(resnet_at_8, judged_values):
    """PlainNet at depth 8 against SmallResNet at depth 2 (width 8) with more seeds: the
    SmallResNet at depth 8 is judged, or none (not run yet), never the depth-2 one (it was
    judged "contradicted" against the PlainNet at depth 8)."""
    runs = claim_runs(RESIDUAL, *net_runs("plain", [0.90, 0.91]),
                      *net_runs("resnet", [0.95, 0.96][:len(resnet_at_8)], seeds=resnet_at_8),
                      *net_runs("resnet", [0.2, 0.21, 0.22], depth=2, width=8))
    judged = arms(RESIDUAL, runs)
    if judged[0].values.size == 0:  # the family at depth 2: PlainNet not run there
        judged_values = [[], [0.2, 0.21, 0.22]]
    assert [list(a.values) for a in judged] == judged_values
    assert not any(a.note for a in judged)


def test_arms_that_name_their_choice_as_not_one_or_as_a_list_are_judged():
    """An arm named by `not:` (which choice it sets is not known: the key goes with the arms'
    choices, as before) and one naming a list of choices (it raised TypeError: unhashable list,
    and the report was not built)."""
    import dataclasses

    others = dataclasses.replace(OPTIMIZERS, arms={"SGD": {"optimizer.name": "sgd"},
                                                   "others": {"not": {"optimizer.name": "sgd"}}})
    runs = claim_runs(others, *optimizer_runs("sgd", [0.90, 0.91]),
                      *optimizer_runs("adam", [0.95, 0.96]))
    assert [len(a.values) for a in arms(others, runs)] == [2, 2]
    listed = dataclasses.replace(OPTIMIZERS, arms={"SGD": {"optimizer.name": "sgd"},
                                                   "adaptive": {"optimizer.name": ["adam"]}})
    assert list(judge([listed], runs)["n_b"]) == [2]


def test_a_chain_judges_neighbours_and_first_judges_against_the_first():
    three = {"avg": {"pooling.name": "avg"}, "max": {"pooling.name": "max"},
             "lp": {"pooling.name": "lp"}}
    runs = runs_frame(*arm_runs("avg", [0.9, 0.91]), *arm_runs("max", [0.95, 0.96]),
                      *arm_runs("lp", [0.97, 0.98]))
    chain = judge([Claim(**{**vars(POOLING), "arms": three})], runs)
    first = judge([Claim(**{**vars(POOLING), "arms": three, "pairs": "first"})], runs)
    assert list(zip(chain["arm_a"], chain["arm_b"], strict=True)) == [("avg", "max"), ("max", "lp")]
    assert list(zip(first["arm_a"], first["arm_b"], strict=True)) == [("avg", "max"), ("avg", "lp")]


def _curve(*accs: float) -> pd.DataFrame:
    return pd.DataFrame({"epoch": range(1, len(accs) + 1), "test_acc": accs})


@pytest.mark.parametrize("how, values", [
    ({"epoch": 2}, ([0.6, 0.7], [0.8, 0.9])),
    ({"reach": 0.75}, ([3, 4], [2, 1])),  # never reaching it counts as its epochs + 1
    ({"over": "test_loss"}, ([0.5, 0.5], [2.0, 1.0])),
])
def test_a_value_at_an_epoch_epochs_to_reach_or_a_ratio_of_finals(how, values):
    curves = {("avg", 0): _curve(0.5, 0.6, 0.8), ("avg", 1): _curve(0.5, 0.7, 0.7),
              ("max", 0): _curve(0.7, 0.8, 0.9), ("max", 1): _curve(0.8, 0.9, 0.9)}
    loss = {("avg", 0): 1.6, ("avg", 1): 1.4, ("max", 0): 0.45, ("max", 1): 0.9}
    runs = runs_frame(*({"pooling": p, "seed": s, "curve": c,
                         "metrics": {"test_acc": c["test_acc"].iloc[-1], "test_loss": loss[p, s]}}
                        for (p, s), c in curves.items()))
    judged = arms(Claim(**{**vars(POOLING), **how}), runs)
    assert [list(a.values) for a in judged] == [pytest.approx(v) for v in values]


# -- what the report writes ----------------------------------------------------------------


def test_the_report_writes_claims_md_csv_and_the_figure(tmp_path):
    for seed in range(3):
        for pooling, acc in (("max", 0.95), ("avg", 0.90)):
            make_run(tmp_path / "outputs", f"{pooling}{seed}", "section=3", f"pooling={pooling}",
                     seed=seed, metrics={"test_acc": acc + 0.01 * seed},
                     curve=curve(2, acc - 0.02))
    from dlproj.report.build import build_report

    report = build_report(tmp_path / "outputs", tmp_path / "report")
    rows = list(csv.DictReader(open(tmp_path / "report" / "claims.csv")))
    assert len(rows) == len(report.claims) == 13  # every pair of every claim of the study
    pooling = next(r for r in rows if r["claim"] == "max_pooling")
    assert (pooling["verdict"], pooling["n_a"], pooling["n_b"]) == ("supported", "3", "3")
    assert float(pooling["effect"]) == pytest.approx(0.05)
    md = (tmp_path / "report" / "claims.md").read_text()
    ci = stats.ttest_ind([0.95, 0.96, 0.97], [0.90, 0.91, 0.92], equal_var=False)
    low, high = ci.confidence_interval(0.95)
    line = next(ln for ln in md.splitlines() if ln.startswith("| max_pooling "))
    assert [c.strip() for c in line.split("|")[1:-1]] == [
        "max_pooling", "6.1, 4.3.2", "max > average", "test_acc", "3, 3", "+0.0500",
        f"[+{low:.4f}, +{high:.4f}]", "supported", "3", ""]
    assert "Welch's t" in md and "“Max pooling provides stronger performance" in md
    assert sum("not run yet" in r["verdict"] for r in rows) == 12
    index = (tmp_path / "report" / "index.md").read_text()
    assert "](figures/claims.png)" in index and "## Claims judged" in index
    assert (tmp_path / "report" / "figures" / "claims.png").stat().st_size > 10_000
    # A sweep's report keeps only the claims its runs bear on.
    sweep = build_report(tmp_path / "outputs", tmp_path / "sweep", figures=False,
                         matched_only=True)
    assert list(sweep.claims["claim"]) == ["max_pooling"]


@pytest.mark.parametrize("matched_only", [True, False], ids=["a sweep's report", "all runs"])
def test_runs_no_claim_compares_get_a_csv_with_its_header_and_the_words_why(tmp_path,
                                                                             matched_only):
    """A sweep of runs no claim's arms are (Section 3 max pooling alone): claims.md said "This
    study has no claims." of a study of 13, and claims.csv was empty, not even a header (pandas
    refuses to read it)."""
    from dlproj.claims.judge import COLUMNS
    from dlproj.config.study import claims
    from dlproj.report.build import build_report

    for seed in range(2):
        make_run(tmp_path / "outputs", f"max{seed}", "section=3", "pooling=max", seed=seed,
                 metrics={"test_acc": 0.9})
    report = build_report(tmp_path / "outputs", tmp_path / "report", figures=False,
                          matched_only=matched_only)
    table = pd.read_csv(tmp_path / "report" / "claims.csv")
    assert tuple(table.columns) == COLUMNS and len(table) == len(report.claims)
    md = (tmp_path / "report" / "claims.md").read_text()
    assert "has no claims" not in md
    if matched_only:
        assert table.empty
        assert f"None of the study's {len(claims())} claims compares these runs" in md


def test_a_claims_figure_that_fails_is_a_skipped_file_not_a_lost_report(tmp_path, monkeypatch):
    """The claims' figure is drawn as the report's others are: one that raises is listed among
    the report's problems, and claims.md, results.md and the other figures are written."""
    for seed in range(2):
        for pooling, acc in (("max", 0.95), ("avg", 0.90)):
            make_run(tmp_path / "outputs", f"{pooling}{seed}", "section=3", f"pooling={pooling}",
                     seed=seed, metrics={"test_acc": acc + 0.01 * seed},
                     curve=curve(2, acc - 0.02))
    import dlproj.plots.claims

    def broken(frame):
        raise RuntimeError("no room on the canvas")

    monkeypatch.setattr(dlproj.plots.claims, "effect_intervals", broken)
    from dlproj.report.build import build_report

    build_report(tmp_path / "outputs", tmp_path / "report")
    report = tmp_path / "report"
    assert (report / "claims.md").is_file() and (report / "results.md").is_file()
    assert not (report / "figures" / "claims.png").exists()
    assert "no room on the canvas" in (report / "index.md").read_text()


@pytest.mark.parametrize("low, effect, high, ratio", [
    (0.035, 0.21, 0.95, True),  # across a decade: the quick study's skip_gradient_flow
    (0.97, 0.995, 1.03, True), (0.5, 1.4, 3.0, True), (0.012, 0.2, 1.05, True),
    (1e-9, 2e-9, 0.5, True), (0.2, 3.0, 40.0, True), (-0.37, -0.003, 0.36, False),
    (-0.0002, 0.0001, 0.0004, False)])
def test_the_claims_figures_scale_labels_never_overlap(low, effect, high, ratio):
    """Each panel's x axis is read by its labels: on any range (log axes spanning part of a
    decade, across one, many decades; differences) no two tick labels overlap."""
    from dlproj.plots.claims import effect_intervals

    rows = pd.DataFrame([{"label": "a claim\nB > A", "effect": effect, "low": low, "high": high,
                          "verdict": "inconclusive at n = 3", "kind": "inconclusive",
                          "ratio": ratio, "higher": True}])
    fig = effect_intervals(rows)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    labels = [t for t in ax.get_xticklabels(which="both") if t.get_visible() and t.get_text()
              and lo <= t.get_position()[0] <= hi]
    boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: b.x0)
    assert len(boxes) >= 2, [t.get_text() for t in labels]
    for left, right in itertools.pairwise(boxes):
        assert left.x1 <= right.x0, [t.get_text() for t in labels]
    import matplotlib.pyplot as plt

    plt.close(fig)
