"""Typed, documented configuration: dataclasses, named presets, TOML files and ``--set`` overrides.

Precedence: ``--set key=value`` flags beat the ``--config`` TOML file, which beats the preset,
which beats the defaults below. The defaults are the authors' hyperparameters for the synthetic
experiment (``../shared/SEQGAN.md``); the presets in ``presets/*.toml`` change a few of them and
give a reason beside each value.

Every rule is checked once, in :meth:`Config.validate`, and a broken rule raises
:class:`~seqgan.errors.SeqGANError` saying what to change.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from seqgan.config_sections import DataConfig, EvalConfig, ModelConfig, TrainConfig
from seqgan.errors import SeqGANError
from seqgan.precision import PRECISIONS
from seqgan.train.leakgan import LeakGANConfig
from seqgan.train.maligan import MaliGANConfig
from seqgan.train.pg_bleu import PGBLEUConfig
from seqgan.train.rankgan import RankGANConfig
from seqgan.train.relgan import RelGANConfig
from seqgan.train.scheduled_sampling import SSConfig
from seqgan.train.value import ValueConfig, validate_estimator

PRESETS = ("tiny", "fast", "paper", "text_fast")

__all__ = ["PRESETS", "SECTIONS", "Config", "DataConfig", "EvalConfig", "ModelConfig", "TrainConfig",
           "apply_dict", "load_toml", "parse_set", "preset_dict", "resolve"]


@dataclass
class Config:
    """Everything a run needs. ``config.json`` in the run directory is this, resolved."""

    seed: int = 0
    """Seed of every random draw (oracle, data, initialisation, sampling)."""
    device: str = "cpu"
    """'cpu', 'cuda' or 'cuda:N'."""
    threads: int = 0
    """torch CPU threads; 0 leaves PyTorch's default (one per core)."""
    preset: str | None = None
    """The named preset the run began from. A section the run's config.json lacks (written by a seqgan
    without it, e.g. before an algorithm existed) is taken from it on --resume, not from the defaults."""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    # One section per algorithm that has settings of its own (documented in its module under train/).
    ss: SSConfig = field(default_factory=SSConfig)
    pg_bleu: PGBLEUConfig = field(default_factory=PGBLEUConfig)
    maligan: MaliGANConfig = field(default_factory=MaliGANConfig)
    rankgan: RankGANConfig = field(default_factory=RankGANConfig)
    relgan: RelGANConfig = field(default_factory=RelGANConfig)
    value: ValueConfig = field(default_factory=ValueConfig)  # SeqGAN's value network (train.reward_estimator)
    leakgan: LeakGANConfig = field(default_factory=LeakGANConfig)

    # ------------------------------------------------------------------ rules
    def validate(self) -> "Config":
        """Check every rule once; raise SeqGANError saying what to change."""
        m, d, t, e = self.model, self.data, self.train, self.eval
        if self.preset is not None and self.preset not in PRESETS:
            raise SeqGANError(f"preset must be one of {', '.join(PRESETS)} or unset, got {self.preset!r}")
        positive = {
            "model.vocab_size": m.vocab_size, "model.seq_len": m.seq_len,
            "model.g_emb_dim": m.g_emb_dim, "model.g_hidden_dim": m.g_hidden_dim,
            "model.d_emb_dim": m.d_emb_dim, "data.num_train": d.num_train,
            "train.batch_size": t.batch_size, "train.rollouts": t.rollouts,
            "train.d_epochs": t.d_epochs, "train.checkpoint_every": t.checkpoint_every,
            "eval.every": e.every, "eval.num_samples": e.num_samples, "eval.d_samples": e.d_samples,
        }
        for key, value in positive.items():
            if value < 1:
                raise SeqGANError(f"{key} must be at least 1, got {value}")
        if e.final_samples < 2:  # checked now, not in the final evaluation after the whole training
            raise SeqGANError(f"eval.final_samples must be at least 2 (the final NLL's standard error needs two "
                              f"samples), got {e.final_samples}")
        non_negative = {
            "train.g_pretrain_epochs": t.g_pretrain_epochs, "train.d_pretrain_steps": t.d_pretrain_steps,
            "train.adv_rounds": t.adv_rounds, "train.g_steps": t.g_steps, "train.d_steps": t.d_steps,
            "threads": self.threads,
        }
        for key, value in non_negative.items():
            if value < 0:
                raise SeqGANError(f"{key} must be 0 or more, got {value}")
        if m.seq_len < 2:
            raise SeqGANError(f"model.seq_len must be at least 2 for roll-outs, got {m.seq_len}")
        if not 0 <= m.start_token < m.vocab_size:
            raise SeqGANError(f"model.start_token must be in [0, model.vocab_size), got {m.start_token}")
        if len(m.d_filter_sizes) != len(m.d_num_filters) or not m.d_filter_sizes:
            raise SeqGANError(
                "model.d_filter_sizes and model.d_num_filters must be non-empty lists of the same length, "
                f"got {len(m.d_filter_sizes)} and {len(m.d_num_filters)}"
            )
        if any(w < 1 or w > m.seq_len for w in m.d_filter_sizes):
            raise SeqGANError(
                f"every D window width must be in [1, model.seq_len={m.seq_len}], got {m.d_filter_sizes}: give "
                f"model.seq_len={max(m.d_filter_sizes)} or more, or narrower model.d_filter_sizes (with "
                "model.d_num_filters, one count per width)"
            )
        if any(f < 1 for f in m.d_num_filters):
            raise SeqGANError(f"every entry of model.d_num_filters must be at least 1, got {m.d_num_filters}")
        if not 0 < m.d_dropout_keep <= 1:
            raise SeqGANError(f"model.d_dropout_keep must be in (0, 1], got {m.d_dropout_keep}")
        for key, value in {"train.g_lr": t.g_lr, "train.d_lr": t.d_lr, "train.g_grad_clip": t.g_grad_clip,
                           "model.g_init_std": m.g_init_std, "data.oracle_init_std": d.oracle_init_std}.items():
            if not value > 0:
                raise SeqGANError(f"{key} must be positive, got {value}")
        if m.d_l2_reg < 0:
            raise SeqGANError(f"model.d_l2_reg must be 0 or more, got {m.d_l2_reg}")
        if t.rollout_policy not in ("live", "delayed"):
            raise SeqGANError(f"train.rollout_policy must be 'live' or 'delayed', got {t.rollout_policy!r}")
        if not 0 <= t.rollout_update_rate <= 1:
            raise SeqGANError(f"train.rollout_update_rate must be in [0, 1], got {t.rollout_update_rate}")
        if t.precision not in PRECISIONS:
            raise SeqGANError(f"train.precision must be one of {', '.join(PRECISIONS)}, got {t.precision!r}")
        from seqgan.train.registry import ALGORITHMS  # here: the registry imports every algorithm

        if t.algorithm not in ALGORITHMS:
            raise SeqGANError(f"train.algorithm must be one of {', '.join(ALGORITHMS)}, got {t.algorithm!r}")
        for section in (self.ss, self.pg_bleu, self.maligan, self.rankgan, self.relgan, self.leakgan):
            section.validate()
        validate_estimator(self)  # train.reward_estimator, train.value_rollouts and the value section
        self._validate_real_data()
        if not (self.device == "cpu" or self.device == "cuda" or self.device.startswith("cuda:")):
            raise SeqGANError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        return self

    def _validate_real_data(self) -> None:
        """The rules of the real-data fields of DataConfig."""
        from seqgan.data.tokenizers import TOKENIZERS  # here: importing seqgan.data pulls in torch

        d = self.data
        if d.tokenizer not in TOKENIZERS:
            raise SeqGANError(f"data.tokenizer must be one of {', '.join(TOKENIZERS)}, got {d.tokenizer!r}")
        if d.long_lines not in ("truncate", "skip"):
            raise SeqGANError(f"data.long_lines must be 'truncate' or 'skip', got {d.long_lines!r}")
        if d.min_count < 1:
            raise SeqGANError(f"data.min_count must be at least 1, got {d.min_count}")
        if d.max_vocab is not None and d.max_vocab < 4:
            raise SeqGANError(f"data.max_vocab must be at least 4 (3 special tokens + 1) or unset, got {d.max_vocab}")
        if d.valid_path is not None and d.train_path is None:
            raise SeqGANError("data.valid_path needs data.train_path: give the training file too (--data FILE)")
        if d.fixed_length and d.train_path is None:
            raise SeqGANError("data.fixed_length is for real data: give the training file too (--data FILE)")
        if d.train_path is not None and d.oracle_params is not None:
            raise SeqGANError("data.train_path (real data) and data.oracle_params (synthetic task) exclude each "
                              "other; unset one of them")

    # ------------------------------------------------------------- plumbing
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Config":
        """Build from a nested dict (e.g. ``config.json``); unknown keys are an error."""
        cfg = cls()
        apply_dict(cfg, data, source="config")
        return cfg.validate()

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


# ---------------------------------------------------------------------- merging


def _fields(obj: Any) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(obj)}


def _coerce(value: Any, annotation: str, key: str, source: str) -> Any:
    """Check a value against a field's annotation (as written in this module) and convert ints to floats."""
    def bad(expected: str) -> SeqGANError:
        return SeqGANError(f"{source}: {key} must be {expected}, got {value!r} ({type(value).__name__})")

    optional = annotation.endswith("| None")
    base = annotation.replace("| None", "").strip()
    if value is None:
        if optional:
            return None
        raise bad(base)
    if base == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if base == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if base == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if base == "str":
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if base == "list[int]":
        if not isinstance(value, list) or any(isinstance(v, bool) or not isinstance(v, int) for v in value):
            raise bad("a list of integers, e.g. [1, 2, 3]")
        return list(value)
    raise AssertionError(f"unhandled annotation {annotation}")  # a bug in this module, not user input


def apply_dict(cfg: Config, data: dict[str, Any], source: str) -> None:
    """Merge a nested dict into ``cfg`` in place, refusing unknown keys and wrong types."""
    if not isinstance(data, dict):
        raise SeqGANError(f"{source}: expected a table of settings, got {type(data).__name__}")
    top = _fields(cfg)
    for name, value in data.items():
        if name not in top:
            raise SeqGANError(f"{source}: unknown key {name!r}; valid keys: {', '.join(sorted(top))}")
        section = getattr(cfg, name)
        if dataclasses.is_dataclass(section):
            if not isinstance(value, dict):
                raise SeqGANError(f"{source}: [{name}] must be a table of settings, got {value!r}")
            inner = _fields(section)
            for key, v in value.items():
                if key not in inner:
                    raise SeqGANError(
                        f"{source}: unknown key {name}.{key}; valid keys in [{name}]: {', '.join(sorted(inner))}"
                    )
                setattr(section, key, _coerce(v, inner[key].type, f"{name}.{key}", source))
        else:
            setattr(cfg, name, _coerce(value, top[name].type, name, source))


def parse_set(item: str) -> dict[str, Any]:
    """Turn ``train.rollouts=8`` into ``{"train": {"rollouts": 8}}``; the value is read as TOML."""
    if "=" not in item:
        raise SeqGANError(f"--set {item!r}: expected key=value, e.g. --set train.rollouts=8")
    key, raw = item.split("=", 1)
    key, raw = key.strip(), raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word such as `delayed` or `cuda:0` is a string
    parts = key.split(".")
    if len(parts) > 2 or not all(parts):
        raise SeqGANError(f"--set {item!r}: key must be 'name' or 'section.name', e.g. train.rollouts")
    return {parts[0]: {parts[1]: value}} if len(parts) == 2 else {parts[0]: value}


def load_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SeqGANError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SeqGANError(f"cannot read config file {path}: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SeqGANError(f"config file {path} is not valid TOML: {exc}") from None


SECTIONS = tuple(f.name for f in dataclasses.fields(Config) if dataclasses.is_dataclass(f.default_factory))


def preset_dict(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise SeqGANError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    text = resources.files("seqgan.presets").joinpath(f"{name}.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def resolve(preset: str | None = "fast", config_file: str | Path | None = None,
            overrides: typing.Sequence[str] = (), base: dict[str, Any] | None = None, **flags: Any) -> Config:
    """Defaults < ``base`` (a run's config.json, when resuming) < preset < TOML file < ``--set`` overrides
    < explicit flags (``seed=…``, ``device=…``)."""
    cfg = Config()
    if base is not None:
        apply_dict(cfg, base, source="the run's config.json")
    if preset is not None:
        apply_dict(cfg, preset_dict(preset), source=f"preset {preset}")
        cfg.preset = preset
    if config_file is not None:
        apply_dict(cfg, load_toml(config_file), source=str(config_file))
    for item in overrides:
        apply_dict(cfg, parse_set(item), source=f"--set {item}")
    flat = {k: v for k, v in flags.items() if v is not None}
    sections: dict[str, Any] = {}
    for key, value in flat.items():
        if "." in key:
            sec, name = key.split(".", 1)
            sections.setdefault(sec, {})[name] = value
        else:
            sections[key] = value
    apply_dict(cfg, sections, source="command line")
    return cfg.validate()
