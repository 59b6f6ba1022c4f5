"""Configuration declared once: the CLI's options come from the config dataclasses' fields, --set reaches
every other field (checked and typed), and docs/decisions.md holds every anchor the code points to."""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lightfmp.cli import cli, exit_status
from lightfmp.cli.common import SECTIONS
from lightfmp.knobs import flagged

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--hidden", "8", "--embed-dim", "4", "--epochs", "1", "--batch-size", "512", "--quiet"]


def test_every_flagged_field_is_an_option_with_the_dataclass_default() -> None:
    text = CliRunner().invoke(cli, ["train", "--help"], terminal_width=200).output
    for cls in SECTIONS.values():
        for f in flagged(cls):
            assert f.metadata["flag"] in text, f.name
    assert "--epochs INTEGER RANGE" in text and "[default: 10; x>=1]" in text
    assert "[default: 400,400,200]" in text  # the text form of ModelConfig.hidden's default


def test_set_reaches_other_fields_and_lands_in_config_json(synthetic_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert exit_status(["train", "--data", str(synthetic_data), *FAST, "--out", str(out),
                        "--set", "train.embed_l2=1e-4", "--set", "model.batch_norm=true"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["train_config"]["embed_l2"] == 1e-4 and cfg["model_config"]["batch_norm"] is True
    # the test split's probabilities are kept, in row order, for paired comparisons between runs
    from lightfmp.data.dataset import PreparedData
    from lightfmp.metrics import auc

    y = PreparedData.load(synthetic_data).split("test")[1]
    report = json.loads((out / "report.json").read_text())
    assert auc(y, np.load(out / "test_scores.npy")) == pytest.approx(report["auc"], abs=1e-5)  # float32 ties


@pytest.mark.parametrize("setting,message", [
    ("train.nope=1", "train has no setting 'nope'; it has lr, batch_size"),
    ("model.batch_norm=maybe", "batch_norm: expected bool"),
    ("train.epochs=0", "epochs must be >= 1"),
    ("embed_l2=1", "expected SECTION.NAME=VALUE"),
    ("pretrain.lr=1", "unknown section 'pretrain'"),  # only prune reads pretrain
])
def test_a_bad_setting_is_refused_in_one_line_before_any_work(synthetic_data: Path, tmp_path: Path, capsys,
                                                             setting: str, message: str) -> None:
    code = exit_status(["train", "--data", str(synthetic_data), *FAST, "--out", str(tmp_path / "r"), "--set", setting])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not (tmp_path / "r").exists()


def test_every_decisions_anchor_the_code_names_exists() -> None:
    doc = (ROOT / "docs" / "decisions.md").read_text()
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in re.findall(r"^### (.+)$", doc, re.M)}
    named = set()
    for path in (ROOT / "lightfmp").rglob("*.py"):
        named |= {(path.name, a) for a in re.findall(r"decisions\.md#([a-z0-9-]+)", path.read_text())}
        named |= {(path.name, a) for a in re.findall(r"(?<=[ (])#([a-z][a-z0-9-]+-[a-z0-9-]+)", path.read_text())
                  if "decisions.md" in path.read_text()}
    missing = sorted((f, a) for f, a in named if a not in anchors)
    assert not missing, missing


def test_config_dataclasses_declare_help_for_every_field() -> None:
    for cls in SECTIONS.values():
        for f in dataclasses.fields(cls):
            assert f.metadata.get("help"), f"{cls.__name__}.{f.name}"
