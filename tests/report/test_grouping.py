"""`lightfmp report` averages over seeds only: runs that differ in anything else are separate rows, and the
tables, JSON and figures say how many runs each number averages."""
import json

import pytest

from lightfmp.cli import exit_status, main
from lightfmp.report.grouping import method_of, settings, split_rows
from lightfmp.report.tables import load_reports, table2, table2_data

TRAIN = {"lr": 0.001, "batch_size": 256, "epochs": 5, "patience": 2, "seed": 0, "device": "cpu", "threads": None}
MODEL = {"embed_dim": 4, "hidden": [16]}


def _write(root, name, method="lightfmp", seed=0, auc=0.70, epochs=5, dataset="criteo", model="xdeepfm",
           device="cpu", init=None, total=10.0, tau=0.5):
    folder = root / name
    folder.mkdir(parents=True)
    report = {"method": method, "model": model, "dataset": dataset, "seed": seed,
              "prune_ratio": 0.0 if method == "none" else tau, "pretrain_rows": 0 if method == "none" else 2000,
              "train_rows": 6400, "fields_total": 39, "auc": auc, "logloss": 0.5, "total_seconds": total,
              "pretrain_seconds": 0.0 if method == "none" else 2.0, "continued_seconds": total - 2.0,
              "protocol": {"format": dataset, "input": "/x/data/" + dataset, "rows": None, "seed": 2021,
                           "min_count": 2, "pretrain_size": 2000, "source_options": {}}}
    if init is not None:
        report["init"] = init
    config = {"method": method, "model": model, "model_config": MODEL,
              "train_config": {**TRAIN, "seed": seed, "epochs": epochs, "device": device}}
    (folder / "report.json").write_text(json.dumps(report))
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def _cli(argv, capsys):
    return exit_status(argv), capsys.readouterr()


def test_seeds_of_one_configuration_average(tmp_path):
    _write(tmp_path, "n0", "none", 0, 0.68)
    _write(tmp_path, "n1", "none", 1, 0.70, device="cuda")  # where it ran is not a setting
    _write(tmp_path, "l0", "lightfmp", 0, 0.71)
    _write(tmp_path, "l1", "lightfmp", 1, 0.73)
    t = table2_data(load_reports([tmp_path]))
    assert list(t["rows"]) == ["none", "lightfmp"] and t["note"] is None
    cell = t["rows"]["lightfmp"]["criteo"]
    assert cell["n"] == 2 and cell["auc"][0] == pytest.approx(0.72) and cell["auc"][2] == 2
    assert cell["tt"][2] == 2
    text = table2(load_reports([tmp_path]))
    assert "criteo n |" in text and "| Light-FMP (deep) | 0.7200 ± 0.0141 | " in text and " | 2 |" in text


def test_different_epochs_are_not_averaged_and_the_note_says_so(tmp_path, capsys):
    _write(tmp_path, "n0", "none", 0, 0.68)
    _write(tmp_path, "a0", "lightfmp", 0, 0.71, epochs=3)
    _write(tmp_path, "a1", "lightfmp", 1, 0.72, epochs=3)
    _write(tmp_path, "b0", "lightfmp", 0, 0.75, epochs=10)
    code, cap = _cli(["report", str(tmp_path)], capsys)
    assert code == 0
    out = cap.out
    assert "| Light-FMP (deep; epochs=3) | 0.7150 ± 0.0071 |" in out
    assert "| Light-FMP (deep; epochs=10) | 0.7500 |" in out
    assert "0.7300" not in out  # no mean over the two configurations
    note = next(line for line in out.splitlines() if line.startswith("Note:"))
    assert "epochs = 3, 10" in note and "Light-FMP" in note
    code, cap = _cli(["report", str(tmp_path), "--json"], capsys)
    t2 = json.loads(cap.out)["table2"]
    assert t2["varying"] == {"lightfmp": ["epochs"]}
    groups = {g["row"]: g for g in t2["groups"]}
    assert groups["lightfmp (epochs=3)"]["n"] == 2 and groups["lightfmp (epochs=3)"]["settings"] == {"epochs": 3}
    assert sorted(groups["lightfmp (epochs=3)"]["runs"]) == [str(tmp_path / "a0"), str(tmp_path / "a1")]
    assert groups["lightfmp (epochs=10)"]["n"] == 1


def test_settings_that_differ_only_across_data_sets_do_not_split(tmp_path):
    _write(tmp_path, "c", "lightfmp", 0, epochs=3, dataset="criteo")
    _write(tmp_path, "a", "lightfmp", 0, epochs=8, dataset="avazu")  # e.g. a batch or cap chosen per data set
    rows = split_rows(load_reports([tmp_path]), lambda r: r["dataset"]).rows
    assert list(rows) == ["lightfmp"]


def test_scratch_init_is_its_own_method_even_in_older_folders(tmp_path):
    old = _write(tmp_path, "old", "lightfmp", init="scratch")
    r = load_reports([old])[0]
    assert method_of(r) == "lightfmp-scratch" and settings(r)["method"] == "lightfmp-scratch"
    assert "lightfmp-scratch" not in table2_data([r])["rows"]  # an ablation, not a Table 2 method


@pytest.mark.parametrize("case", ["empty_report", "corrupt_config", "list_report", "not_a_run", "file"])
def test_bad_run_folders_are_one_line(tmp_path, capsys, case):
    folder = _write(tmp_path, "r", "none")
    target, named = folder, None
    if case == "empty_report":
        (folder / "report.json").write_text("")
        named = folder / "report.json"
    elif case == "corrupt_config":
        (folder / "config.json").write_text('{"model_config": ')
        named = folder / "config.json"
    elif case == "list_report":
        (folder / "report.json").write_text("[]")
        named = folder / "report.json"
    elif case == "not_a_run":
        target = named = tmp_path / "empty"
        target.mkdir()
    else:
        target = named = folder / "report.json"
    code, cap = _cli(["report", str(target)], capsys)
    assert code == 2 and cap.out == ""
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and str(named) in lines[0] and "Traceback" not in cap.err


@pytest.mark.parametrize("case", ["file", "parent_file"])
def test_unwritable_plot_dir_fails_before_drawing(tmp_path, capsys, case):
    runs = tmp_path / "runs"
    _write(runs, "n0", "none")
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    target = blocker if case == "file" else blocker / "figs"
    code, cap = _cli(["report", str(runs), "--plot", str(target)], capsys)
    assert code == 2 and cap.out == ""
    assert len(cap.err.strip().splitlines()) == 1 and str(target) in cap.err
    assert blocker.read_text() == "x"


SMALL = ["--embed-dim", "4", "--hidden", "16", "--epochs", "1", "--batch-size", "512", "--quiet"]


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory):
    """No Selection, Light-FMP and Light-FMP --init scratch, two seeds of Light-FMP, all through the CLI."""
    from lightfmp.data.prepare import prepare

    root = tmp_path_factory.mktemp("grouping")
    data = root / "syn"
    prepare("synthetic", None, data, progress=False, rows=3000, seed=3, pretrain_size=500)
    runs = root / "runs"
    common = ["--data", str(data), *SMALL]
    prune = ["prune", "--pretrain-size", "500", "--pretrain-max-steps", "20", *common]
    for argv in (["train", *common, "--out", str(runs / "none-s0")],
                 [*prune, "--out", str(runs / "lf-s0")],
                 [*prune, "--seed", "1", "--out", str(runs / "lf-s1")],
                 [*prune, "--init", "scratch", "--out", str(runs / "scratch-s0")]):
        main(argv)
    return runs


def test_cli_runs_draw_figure_2b_with_no_selection(cli_runs, tmp_path, capsys):
    rep = json.loads((cli_runs / "scratch-s0" / "report.json").read_text())
    cfg = json.loads((cli_runs / "scratch-s0" / "config.json").read_text())
    assert rep["method"] == cfg["method"] == "lightfmp-scratch" and rep["init"] == "scratch"
    figs = tmp_path / "figs"
    code, cap = _cli(["report", str(cli_runs), "--plot", str(figs), "--json"], capsys)
    assert code == 0, cap.err
    data = json.loads(cap.out)
    assert data["table2"]["rows"]["lightfmp"]["synthetic"]["n"] == 2  # two seeds, one configuration
    assert "lightfmp-scratch" not in data["table2"]["rows"]
    assert data["table3"]["rows"]["dnn"]["lightfmp"]["n"] == 2 and data["table3"]["rows"]["dnn"]["none"]["n"] == 1
    for name in ("fig2a", "fig2b"):
        assert (figs / f"{name}_{'time' if name == 'fig2a' else 'init_ablation'}.png").read_bytes()[:4] == b"\x89PNG"
    assert set(data["figures"]) >= {"fig2a", "fig2b"}


def test_figures_show_no_selection_error_bars_and_counts(cli_runs, monkeypatch, tmp_path):
    """What each figure draws (labels, annotations), read off the matplotlib axes before saving."""
    from lightfmp.report import figures

    seen = {}

    def record(fig, path):
        texts = []
        for ax in fig.axes:
            texts += [t.get_text() for t in ax.texts] + [t.get_text() for t in ax.get_xticklabels()]
            legend = ax.get_legend()
            texts += [t.get_text() for t in legend.get_texts()] if legend else []
        seen[path.name] = texts
        return orig(fig, path)

    orig = figures._save
    monkeypatch.setattr(figures, "_save", record)
    reports = load_reports([cli_runs])
    made = figures.draw_all(reports, tmp_path / "f")
    assert "fig2b" in made and "fig2a" in made
    t2b = seen["fig2b_init_ablation.png"]
    assert {"No Selection", "Light-FMP, pretrained init", "Light-FMP, fresh init"} <= set(t2b)
    assert "n=2" in t2b and "n=1" in t2b
    t2a = seen["fig2a_time.png"]
    assert "No Selection" in t2a and "n=2" in t2a
