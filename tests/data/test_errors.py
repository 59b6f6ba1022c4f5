"""Bad input: one line naming file, line/column and what was expected; exit 2; nothing left behind."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lightfmp.cli import cli, main
from lightfmp.data.synthetic import write_criteo_tsv


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def good_tsv(tmp_path_factory) -> Path:
    return write_criteo_tsv(tmp_path_factory.mktemp("raw") / "good.tsv", rows=300, seed=1)


def _lines(p: Path) -> list[str]:
    return p.read_text().splitlines(keepends=True)


def _bad_file(tmp_path: Path, good: Path, line_no: int, edit) -> Path:
    lines = _lines(good)
    cells = lines[line_no - 1].rstrip("\n").split("\t")
    lines[line_no - 1] = "\t".join(edit(cells)) + "\n"
    p = tmp_path / "bad.tsv"
    p.write_text("".join(lines))
    return p


def _set(i: int, v: str):
    def edit(cells):
        cells[i] = v
        return cells
    return edit


CASES = {
    "empty": (lambda tmp, good: (tmp / "empty.tsv").write_text("") or tmp / "empty.tsv", ["empty"]),
    "columns": (lambda tmp, good: _bad_file(tmp, good, 137, lambda c: c[:-3]), ["line 137", "expected 40 columns, got 37"]),
    "numeric": (lambda tmp, good: _bad_file(tmp, good, 42, _set(3, "abc")), ["line 42", "'I3'", "expected a number", "'abc'"]),
    "label": (lambda tmp, good: _bad_file(tmp, good, 250, _set(0, "2")), ["line 250", "'label'", "expected 0/1 label values", "'2' x 1"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_criteo_file(case, tmp_path, good_tsv, capsys):
    make, needles = CASES[case]
    path = make(tmp_path, good_tsv)
    out = tmp_path / "out"
    code, stdout, err = _run(["prepare", "--format", "criteo", "--input", str(path), "--out", str(out),
                              "--pretrain-size", "10", "--quiet"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert str(path) in lines[0]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def test_header_line_counts_in_line_numbers(tmp_path, capsys):
    p = tmp_path / "t.csv"
    p.write_text("a,b,label\nx,1.5,0\ny,oops,1\n")
    code, _, err = _run(["prepare", "--format", "csv", "--input", str(p), "--out", str(tmp_path / "o"),
                         "--numeric", "b", "--pretrain-size", "1"], capsys)
    assert code == 2 and "line 3" in err and "'b'" in err and "expected a number" in err


def test_unknown_format(tmp_path, capsys):
    code, _, err = _run(["prepare", "--format", "tfrecord", "--input", "x", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "unknown format 'tfrecord'" in err and "criteo" in err


def test_missing_path(tmp_path, capsys):
    missing = tmp_path / "nope.tsv"
    code, _, err = _run(["prepare", "--format", "criteo", "--input", str(missing), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and str(missing) in err and "no such file" in err
    assert not (tmp_path / "o").exists()


def test_pretrain_size_larger_than_train(tmp_path, good_tsv, capsys):
    code, _, err = _run(["prepare", "--format", "criteo", "--input", str(good_tsv), "--out", str(tmp_path / "o"),
                         "--pretrain-size", "241"], capsys)
    assert code == 2 and "--pretrain-size" in err and "240" in err
    assert list(tmp_path.iterdir()) == []


def test_avazu_bad_hour(tmp_path, shared_data_dir, capsys):
    src = (shared_data_dir / "avazu_sample" / "wide_resdnn" / "dev.csv").read_text().splitlines(keepends=True)
    cells = src[9].split(",")
    cells[2] = "14132100"  # month 13
    src[9] = ",".join(cells)
    p = tmp_path / "av.csv"
    p.write_text("".join(src))
    code, _, err = _run(["prepare", "--format", "avazu", "--input", str(p), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "line 10" in err and "'hour'" in err and "YYMMDDHH" in err


def test_existing_non_data_folder_is_not_overwritten(tmp_path, good_tsv, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "precious.txt").write_text("keep")
    code, _, err = _run(["prepare", "--format", "criteo", "--input", str(good_tsv), "--out", str(out),
                         "--pretrain-size", "10"], capsys)
    assert code == 2 and "refusing" in err and (out / "precious.txt").read_text() == "keep"


def test_cli_prepare_json_and_replace(tmp_path, capsys):
    out = tmp_path / "o"
    code, stdout, _ = _run(["prepare", "--format", "synthetic", "--rows", "2000", "--out", str(out),
                            "--pretrain-size", "100", "--json", "--quiet"], capsys)
    assert code == 0
    res = json.loads(stdout)
    assert res["rows"] == {"train": 1600, "valid": 200, "test": 200} and len(res["fields"]) == 39
    assert res["truth"]["interaction"]
    # Preparing again into the same folder replaces it.
    code, stdout, _ = _run(["prepare", "--format", "synthetic", "--rows", "1000", "--out", str(out),
                            "--pretrain-size", "100", "--quiet"], capsys)
    assert code == 0 and "train 800" in stdout
    assert [p.name for p in tmp_path.iterdir()] == ["o"]


def test_cli_help_lists_options():
    result = CliRunner().invoke(cli, ["prepare", "--help"])
    assert result.exit_code == 0
    for opt in ("--format", "--input", "--out", "--rows", "--min-count", "--pretrain-size", "--label", "--json"):
        assert opt in result.output


def _roles_csv(tmp_path: Path, rows: int = 3000) -> Path:
    """A table whose label column is not called label/click, with a numeric column of integers
    (inferred categorical unless declared)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, rows), rng.integers(0, 40, rows)
    y = (rng.random(rows) < np.where(a < 2, 0.7, 0.2)).astype(int)
    p = tmp_path / "roles.csv"
    p.write_text("y,a,b\n" + "".join(f"{t},{u},{v}\n" for t, u, v in zip(y, a, b)))
    return p


def test_training_verbs_take_table_column_roles(tmp_path, monkeypatch, capsys):
    """`train --format csv` prepares on the fly with --label/--categorical/--numeric, as `prepare` does;
    without --label the error names the option the verb now takes."""
    monkeypatch.setenv("LIGHTFMP_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)  # the default run folder, runs/..., lands here, not in the repository
    raw = _roles_csv(tmp_path)
    code, _, err = _run(["train", "--format", "csv", "--input", str(raw), "--epochs", "1", "--quiet"], capsys)
    assert code == 2 and "expected --label COLUMN" in err and "'y'" in err
    code, out, err = _run(["train", "--format", "csv", "--input", str(raw), "--label", "y", "--numeric", "b",
                           "--hidden", "8", "--epochs", "1", "--json", "--quiet"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["fields_total"] == 2 and 0.0 <= report["auc"] <= 1.0
    (folder,) = (tmp_path / "cache").iterdir()
    kinds = {f["name"]: f["kind"] for f in json.loads((folder / "schema.json").read_text())["fields"]}
    assert kinds == {"a": "categorical", "b": "numeric"}
    # other roles give another cache entry, not the first one reused
    code, _, err = _run(["train", "--format", "csv", "--input", str(raw), "--label", "y", "--hidden", "8",
                         "--epochs", "1", "--quiet"], capsys)
    assert code == 0, err
    assert len(list((tmp_path / "cache").iterdir())) == 2


@pytest.mark.parametrize("args, expected", [
    (["--format", "criteo", "--input", "{good}", "--label", "y"], "--label: only for --format csv or parquet"),
    (["--data", "{tmp}", "--numeric", "b"], "--numeric: not with --data"),
])
def test_column_roles_refused_where_columns_are_fixed(args, expected, tmp_path, good_tsv, capsys):
    args = [a.format(good=good_tsv, tmp=tmp_path) for a in args]
    code, _, err = _run(["train", *args, "--quiet"], capsys)
    assert code == 2 and expected in err, err
    code, _, err = _run(["prepare", "--format", "avazu", "--input", str(good_tsv), "--categorical", "a",
                         "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "--categorical: only for --format csv or parquet, not --format avazu" in err, err


@pytest.mark.parametrize("declared", [False, True])
def test_ragged_table_row_names_its_line(declared, tmp_path, capsys):
    """A short row in a csv table: one line naming the file and line, whether the column types are
    inferred (pyarrow parses the first block then) or declared."""
    raw = _roles_csv(tmp_path, rows=400)
    lines = raw.read_text().splitlines(keepends=True)
    lines[300] = "1,3\n"  # line 301 of the file
    raw.write_text("".join(lines))
    roles = ["--categorical", "a", "--numeric", "b"] if declared else []
    code, _, err = _run(["prepare", "--format", "csv", "--input", str(raw), "--label", "y", *roles,
                         "--pretrain-size", "50", "--out", str(tmp_path / "o"), "--quiet"], capsys)
    assert code == 2 and "line 301" in err and "expected 3 columns, got 2" in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_bad_keep_fields_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LIGHTFMP_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    code, _, err = _run(["prune", "--format", "synthetic", "--rows", "5000", "--hidden", "16", "--epochs", "1",
                         "--quiet", "--keep-fields", "C1,nope", "--out", str(out)], capsys)
    assert code == 2 and err.strip().count("\n") == 0 and "no field named 'nope'" in err
    assert not out.exists()
