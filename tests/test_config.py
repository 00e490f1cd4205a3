"""Config composition and validation: bad overrides end with a message naming the key."""

from __future__ import annotations

import pytest

from dlproj.config.compose import normalize_overrides
from dlproj.errors import ConfigError
from dlproj.runtime.validate import validate


def test_default_config_is_section1_mlp(compose_cfg):
    cfg = compose_cfg([])
    assert (cfg.section, cfg.experiment, cfg.model.name) == (1, "mlp", "mlp")
    assert cfg.data.train_limit is None and cfg.data.test_limit is None
    validate(cfg)


def test_experiment_sets_its_defaults_and_command_line_wins(compose_cfg):
    cfg = compose_cfg(["experiment=sin"])
    assert cfg.model.name == "mlp_big" and cfg.section == 1
    cfg = compose_cfg(["experiment=sin", "model=mlp_small", "train.epochs=3"])
    assert cfg.model.name == "mlp_small" and cfg.train.epochs == 3


def test_section_numbers_are_group_choices(compose_cfg):
    for section in ("1", "2", "3", "4"):
        assert compose_cfg([f"section={section}"]).section == int(section)
    assert normalize_overrides(["section=2,3", "seed=1"]) == ["section='2','3'", "seed=1"]


@pytest.mark.parametrize("hydra_wrote, shown", [
    # Hydra's sweep hands a job its values retyped; people read them as they typed them.
    ("section='2'", "section=2"), ("figures=False", "figures=false"),
    ("train.early_stopping.enabled=True", "train.early_stopping.enabled=true"),
    ("optimizer.lr=0.001", "optimizer.lr=0.001"), ("+params.objective=val_acc",
                                                    "+params.objective=val_acc"),
    ("data.train_limit=null", "data.train_limit=null"), ("~logger", "~logger"),
    # Not a plain value: shown as given (quotes a path needs, a list, an interpolation).
    ("data.root='/a b,c'", "data.root='/a b,c'"), ("model.hidden=[64,32]", "model.hidden=[64,32]"),
    ("x=${y}", "x=${y}"), ("seed=0,1", "seed=0,1"), ("bad=[", "bad=["),
])
def test_a_jobs_overrides_are_shown_as_a_command_line_writes_them(hydra_wrote, shown):
    from dlproj.config.overrides import as_written

    assert as_written([hydra_wrote]) == shown
    assert as_written([hydra_wrote, "seed=3"]) == f"{shown} seed=3"


@pytest.mark.parametrize("override,key,allowed", [
    ("train.epochs=-1", "train.epochs", "integer >= 1"),
    ("train.batch_size=0", "train.batch_size", "integer >= 1"),
    ("optimizer.lr=0", "optimizer.lr", "> 0"),
    ("optimizer.name=lbfgs", "optimizer.name", "adam"),
    ("schedule.name=wobbly", "schedule.name", "cosine"),
    ("model.activation=swish", "model.activation", "relu"),
    ("data.train_limit=0", "data.train_limit", "null"),
    ("pooling.name=median", "pooling.name", "max"),
])
def test_range_errors_name_the_key(compose_cfg, override, key, allowed):
    with pytest.raises(ConfigError) as err:
        validate(compose_cfg([override]))
    assert f"'{key}'" in str(err.value) and allowed in str(err.value)



@pytest.mark.parametrize("override,needle", [
    ("train.epochs=abc", "train.epochs"),
    ("section=7", "section/7"),
    ("model=nonexistent", "model/nonexistent"),
])
def test_type_and_choice_errors_at_compose_time(compose_cfg, override, needle):
    with pytest.raises(Exception) as err:
        compose_cfg([override])
    assert needle in str(err.value)


@pytest.mark.parametrize("override,needle", [
    ("train.epochs=-1", "'train.epochs'"),
    ("train.epochs=abc", "train.epochs"),
    ("optimizer.momentum=0.5", "momentum"),  # a key the chosen optimizer (adam) does not take
    ("optimizer.lr=0", "'optimizer.lr'"),
    ("section=7", "'section': '7'. Allowed: one of 1, 2, 3, 4"),
    ("model=nonexistent", "'model': 'nonexistent'. Allowed: one of cnn_small"),
])
def test_bad_overrides_exit_nonzero_without_traceback(dlproj_run, override, needle):
    run = dlproj_run([override])
    assert run.proc.returncode == 2
    assert needle in run.output
    assert "Traceback" not in run.output


def test_unknown_experiment_lists_the_registered_ones():
    from dlproj.experiments import registry

    with pytest.raises(ConfigError) as err:
        registry.get(1, "nope")
    assert "mlp" in str(err.value) and "xor" in str(err.value) and "sin" in str(err.value)
    with pytest.raises(ConfigError, match="section 1"):
        registry.get(2, "xor")


# -- config -> object: every group file builds its `_target_` from exactly its keys ------------

GROUPS = ("optimizer", "schedule", "pooling", "augmentation", "dataset", "model")
# Keys of a node that are not its target's arguments: the choice's name, and what Section 4
# reads besides the network (where its weights come from, what trains).
# The keys Section 4 reads itself (experiments/section4.py TRANSFER_KEYS), not the network.
NOT_ARGUMENTS = {"name", "_target_", "_partial_", "weights", "finetune", "channels_last"}


@pytest.mark.parametrize("group", GROUPS)
def test_every_choice_file_names_a_target_that_takes_exactly_its_keys(group):
    import inspect

    from hydra.utils import get_method

    from dlproj.config.compose import compose_config
    from dlproj.runtime.validate import choices

    assert choices(group), group
    for name, target in choices(group).items():
        node = compose_config([f"{group}={name}"])[group]
        assert node.name == name and node._target_ == target and node._partial_ is True
        params = inspect.signature(get_method(target)).parameters
        keys = set(node) - NOT_ARGUMENTS
        assert keys <= set(params), (name, keys - set(params))


def _experiments():
    from dlproj.experiments import registry

    return sorted(registry.load_all())


@pytest.mark.parametrize("section,experiment", _experiments())
def test_a_group_chosen_on_the_command_line_is_the_one_built(section, experiment):
    """No experiment file renames or re-targets a group: `optimizer=sgd` given with any
    experiment builds SGD, named sgd (compare.yaml's `optimizer.name: adam` once trained Adam).
    Every choice of every group is checked; one composition chooses one of each group at once
    (the k-th choice of each), so the experiment takes as many compositions as its longest list
    of choices, not their sum."""
    from dlproj.config.compose import compose_config
    from dlproj.experiments import registry
    from dlproj.runtime.validate import choices

    takes = registry.get(section, experiment).model_targets
    base = [f"section={section}", f"experiment={experiment}"]
    # A model the experiment refuses (validate says so) is left out.
    listed = {group: [(name, target) for name, target in choices(group).items()
                      if group != "model" or target in takes] for group in GROUPS}
    assert all(listed.values()), listed
    for k in range(max(map(len, listed.values()))):
        chosen = {group: pairs[k] for group, pairs in listed.items() if k < len(pairs)}
        cfg = compose_config([*base, *(f"{group}={name}" for group, (name, _) in chosen.items())])
        for group, (name, target) in chosen.items():
            node = cfg[group]
            assert (node.name, node._target_) == (name, target), (experiment, group, name)


# -- section= and experiment= that disagree -----------------------------------------------------

def _section_pairs():
    """Every section of conf/section/ with every registered experiment: (section, experiment,
    the experiment's own section)."""
    from dlproj import paths

    sections = sorted(int(p.stem) for p in (paths.CONF_DIR / "section").glob("*.yaml"))
    return [(s, name, own) for s in sections for own, name in _experiments()]


@pytest.mark.parametrize("section,experiment,own", _section_pairs())
def test_a_section_and_an_experiment_of_another_are_refused_before_hydra(section, experiment,
                                                                         own):
    """conf/experiment/NAME.yaml sets its own section, so `section=2 experiment=xor` composed
    silently into Section 1 (`--cfg job` showed it): the command line is refused before Hydra
    runs, and a sweep's job in the run's validation, with one paragraph; the pairs that agree
    compose into that section and experiment."""
    from dlproj.config.compose import compose_config
    from dlproj.config.overrides import check_choices

    args = [f"section={section}", f"experiment={experiment}"]
    if section == own:
        check_choices(normalize_overrides(args))
        cfg = compose_config(args)
        assert (cfg.section, cfg.experiment) == (section, experiment)
        return
    theirs = ", ".join(n for s, n in _experiments() if s == section)
    said = (f"Invalid value for 'section': {section}, but experiment={experiment} is Section "
            f"{own}'s. Allowed: section={own} with experiment={experiment}, or one of Section "
            f"{section}'s experiments ({theirs}).")
    # a job (of `section=S 'experiment=glob(*)' train.epochs=1`): the section is what is wrong,
    # not a key its experiment does not read (gradcheck was refused over train.epochs)
    job = [*args, "train.epochs=1"]
    for check in (lambda: check_choices(normalize_overrides(args)),  # the command line
                  lambda: validate(compose_config(job), normalize_overrides(job))):
        with pytest.raises(ConfigError) as err:
            check()
        assert str(err.value) == said


@pytest.mark.parametrize("args", [["section=2,3", "experiment=xor"],
                                  ["section=2", "experiment=xor,train"]])
def test_a_swept_section_or_experiment_is_left_to_each_job(args):
    """Some of its jobs may agree: each job is checked by the run's validation (above), an
    invalid one recorded as such, as a sweep does for every invalid job."""
    from dlproj.config.overrides import check_choices

    check_choices(normalize_overrides(args))
