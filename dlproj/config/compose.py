"""Composing conf/ as the command line does: the schemas in Hydra's ConfigStore, dlproj's
resolvers, section numbers quoted, and a config loader usable outside a Hydra app."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.types import RunMode
from omegaconf import OmegaConf, open_dict

from dlproj import paths
from dlproj.config.schema import SCHEMAS, Config


def register_configs() -> None:
    """Put the schemas in Hydra's ConfigStore and the `${dlproj.*:}` resolvers in OmegaConf."""
    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)
    for group, kinds in SCHEMAS.items():
        for kind, node in kinds.items():
            cs.store(group=f"schema/{group}", name=kind, node=node)
    if not OmegaConf.has_resolver("dlproj.data_root"):
        from dlproj.config.slurm_needs import slurm_needs

        OmegaConf.register_new_resolver("dlproj.data_root", lambda: str(paths.data_root()))
        OmegaConf.register_new_resolver("dlproj.outputs", lambda: str(paths.outputs_root()))
        OmegaConf.register_new_resolver("dlproj.slurm_needs", slurm_needs)


# Hydra parses `section=3` as the integer 3 and refuses ints as config-group choices, so the
# section numbers are quoted before Hydra reads them: `section=3` -> `section='3'`.
_SECTION_ARG = re.compile(r"^section=(\d+(?:,\d+)*)$")


def normalize_overrides(args: list[str]) -> list[str]:
    return [_SECTION_ARG.sub(lambda m: "section=" + ",".join(f"'{v}'" for v in m[1].split(",")),
                             arg) for arg in args]


def compose(overrides: list[str]) -> dict[str, Any]:
    """conf/ composed with command-line overrides, resolved, without `hydra` (a plain dict)."""
    return OmegaConf.to_container(compose_config(overrides), resolve=True)


def compose_config(overrides: list[str], *, keep_hydra: bool = False) -> Any:
    """conf/ composed with command-line overrides, without `hydra` unless `keep_hydra` (its
    node says which choice each group got), a DictConfig, by its own config loader: the same
    inside a Hydra app, a launcher's worker or a plain script. Raises Hydra's error when the
    overrides do not compose."""
    cfg = config_loader().load_configuration("config", normalize_overrides(overrides),
                                             run_mode=RunMode.RUN)
    if not keep_hydra:
        with open_dict(cfg):
            del cfg["hydra"]
    return cfg


@lru_cache(maxsize=1)
def config_loader() -> Any:
    """Hydra's config loader over conf/ (its search path, the schemas registered), made once."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path

    register_configs()
    return ConfigLoaderImpl(config_search_path=create_config_search_path(str(paths.CONF_DIR)))
