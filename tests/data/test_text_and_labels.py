"""Issue 23, data layer: labels, text, --drop, non-regular inputs, leftovers, corrupt folders, encode_rows.

Every bad input is one line (``lightfmp: error: ...``, exit 2) and leaves nothing on disk.
"""
from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lightfmp.cli import exit_status
from lightfmp.data.dataset import PreparedData
from lightfmp.data.prepare import prepare
from lightfmp.data.schema import Schema
from lightfmp.errors import InputError

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    code = exit_status(args)
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lightfmp: error: "), err
    assert len(lines[0]) < 400, lines[0]
    return lines[0]


def _table(rows: int = 400, seed: int = 0, pos: float = 0.3) -> dict[str, list]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 5, rows)
    y = (rng.random(rows) < np.where(a < 2, pos + 0.3, pos - 0.1)).astype(int)
    return {"row_id": [f"r{i}" for i in range(rows)], "y": y.tolist(), "a": [f"v{v}" for v in a],
            "b": rng.integers(0, 30, rows).tolist(), "x": np.round(rng.random(rows) * 50, 2).tolist()}


def _write_csv(path: Path, cols: dict[str, list], sep: str = ",", bom: bool = False) -> Path:
    names = list(cols)
    lines = [sep.join(names)] + [sep.join(str(cols[n][i]) for n in names) for i in range(len(cols[names[0]]))]
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + ("\n".join(lines) + "\n").encode("utf-8"))
    return path


def _nothing_left(folder: Path, keep: set[str]) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(keep)


# ---- 1. labels -----------------------------------------------------------------------------

def test_text_labels_are_refused_with_counts_and_a_map_hint(tmp_path, capsys):
    cols = _table()
    cols["y"] = ["yes" if v else "no" for v in cols["y"]]
    raw = _write_csv(tmp_path / "t.csv", cols)
    code, _, err = _run(["prepare", "--format", "csv", "--input", str(raw), "--out", str(tmp_path / "o"),
                         "--label", "y", "--quiet"], capsys)
    line = _one_line(err)
    n_yes, n_no = cols["y"].count("yes"), cols["y"].count("no")
    assert code == 2 and "line 2, column 'y'" in line
    assert f"expected 0/1 label values, found 'no' x {n_no}, 'yes' x {n_yes}" in line
    assert "--label-map yes=1,no=0" in line
    _nothing_left(tmp_path, {"t.csv"})


def test_label_map_maps_values_and_predict_applies_it(tmp_path):
    cols = _table()
    cols["y"] = ["yes" if v else "no" for v in cols["y"]]
    raw = _write_csv(tmp_path / "t.csv", cols)
    d = prepare("csv", raw, tmp_path / "o", label="y", drop=["row_id"], label_map="yes=1,no=0", pretrain_size=10,
                progress=False)
    assert d.schema.protocol["source_options"]["label_map"] == {"yes": 1.0, "no": 0.0}
    y_all = np.concatenate([d.split(s)[1] for s in ("train", "valid", "test")])
    assert y_all.sum() == cols["y"].count("yes")
    X, y = d.encode_raw(raw)
    assert y is not None and y.sum() == cols["y"].count("yes")


def test_bad_label_map_is_one_line(tmp_path, capsys):
    raw = _write_csv(tmp_path / "t.csv", _table())
    code, _, err = _run(["prepare", "--format", "csv", "--input", str(raw), "--out", str(tmp_path / "o"),
                         "--label", "y", "--label-map", "yes=2", "--quiet"], capsys)
    assert code == 2 and "--label-map: expected VALUE=0 or VALUE=1 pairs" in _one_line(err)
    code, _, err = _run(["prepare", "--format", "synthetic", "--rows", "100", "--out", str(tmp_path / "s"),
                         "--label-map", "a=1", "--quiet"], capsys)
    assert code == 2 and "--label-map: only for --format" in _one_line(err)


def test_one_class_in_a_split_is_refused_with_counts(tmp_path, capsys):
    cols = _table(rows=300)
    cols["y"] = [0] * 298 + [1, 1]
    raw = _write_csv(tmp_path / "t.csv", cols)
    code, _, err = _run(["prepare", "--format", "csv", "--input", str(raw), "--out", str(tmp_path / "o"),
                         "--label", "y", "--pretrain-size", "10", "--quiet"], capsys)
    line = _one_line(err)
    assert code == 2 and "label 'y': the valid and test splits have no positive rows (train 0/1: 238/2, valid 30/0, test 30/0)" \
        in line and "at least 3 rows of each class" in line
    _nothing_left(tmp_path, {"t.csv"})
    cols["y"] = [0] * 300
    _write_csv(raw, cols)
    with pytest.raises(InputError, match="the data has no positive rows"):
        prepare("csv", raw, tmp_path / "o", label="y", pretrain_size=10, progress=False)
    _nothing_left(tmp_path, {"t.csv"})


def test_three_rows_of_a_class_suffice(tmp_path):
    cols = _table(rows=300)
    cols["y"] = [0] * 297 + [1, 1, 1]
    d = prepare("csv", _write_csv(tmp_path / "t.csv", cols), tmp_path / "o", label="y", pretrain_size=10,
                progress=False)
    assert [int(d.split(s)[1].sum()) for s in ("train", "valid", "test")] == [1, 1, 1]


def test_label_map_on_the_fly_enters_the_cache_key(tmp_path, monkeypatch):
    from lightfmp.data.open import open_data

    monkeypatch.setenv("LIGHTFMP_CACHE", str(tmp_path / "cache"))
    cols = _table()
    cols["y"] = ["click" if v else "skip" for v in cols["y"]]
    raw = _write_csv(tmp_path / "t.csv", cols)
    with pytest.raises(InputError, match="--label-map click=1,skip=0"):
        open_data(fmt="csv", input=raw, label="y", progress=False, pretrain_size=10)
    a = open_data(fmt="csv", input=raw, label="y", label_map="click=1,skip=0", progress=False, pretrain_size=10)
    b = open_data(fmt="csv", input=raw, label="y", label_map="click=0,skip=1", progress=False, pretrain_size=10)
    assert a.dir != b.dir
    assert a.split("train")[1].sum() + b.split("train")[1].sum() == len(a.split("train")[1])


# ---- 2. text -------------------------------------------------------------------------------

@pytest.mark.parametrize("sep", [",", "\t", ";", "|"])
def test_utf8_names_bom_and_delimiters_round_trip(tmp_path, sep):
    cols = {"städt": [f"Zürich{i % 3}" for i in range(200)], "klick": [i % 2 for i in range(200)],
            "größe": [i % 7 for i in range(200)]}
    raw = _write_csv(tmp_path / "t.csv", cols, sep=sep, bom=True)
    d = prepare("csv", raw, tmp_path / "o", label="klick", categorical=["städt", "größe"], pretrain_size=10,
                progress=False)
    assert d.schema.names == ["städt", "größe"]
    assert sorted(d.vocab(["städt"])["städt"].to_pylist()) == ["Zürich0", "Zürich1", "Zürich2"]
    assert Schema.load(d.dir / "schema.json").names == ["städt", "größe"]


def test_header_without_a_delimiter_and_the_delimiter_option(tmp_path, capsys):
    raw = tmp_path / "t.csv"
    raw.write_text("y a b\n" + "".join(f"{i % 2} v{i % 3} {i % 5}\n" for i in range(200)))
    code, _, err = _run(["prepare", "--format", "csv", "--input", str(raw), "--out", str(tmp_path / "o"),
                         "--quiet"], capsys)
    assert code == 2 and "expected a header with columns separated by tab, comma, semicolon or pipe; " \
        "give --delimiter C" in _one_line(err)
    d = prepare("csv", raw, tmp_path / "o", label="y", delimiter=" ", pretrain_size=10, progress=False)
    assert d.schema.names == ["a", "b"] and d.schema.protocol["source_options"]["delimiter"] == " "
    code, _, err = _run(["prepare", "--format", "parquet", "--input", str(raw), "--out", str(tmp_path / "p"),
                         "--delimiter", ";", "--quiet"], capsys)
    assert code == 2 and "--delimiter: only for --format csv" in _one_line(err)


def test_a_20_mb_line_parses(tmp_path):
    rows = [f"{i % 2},v{i % 3},{i % 5}" for i in range(300)]
    rows[5] = "1," + "z" * (20 << 20) + ",3"
    raw = tmp_path / "t.csv"
    raw.write_text("y,a,b\n" + "\n".join(rows) + "\n")
    d = prepare("csv", raw, tmp_path / "o", label="y", pretrain_size=10, progress=False)
    assert sum(d.summary["rows"].values()) == 300
    long_header = tmp_path / "h.csv"
    long_header.write_text("y," + "h" * (2 << 20) + "\n" + "".join(f"{i % 2},v{i % 3}\n" for i in range(100)))
    d = prepare("csv", long_header, tmp_path / "o2", label="y", pretrain_size=10, progress=False)
    assert d.schema.names == ["h" * (2 << 20)]


@pytest.mark.parametrize("fmt", ["csv", "criteo", "avazu"])
@pytest.mark.parametrize("kind", ["zip", "random"])
def test_binary_input_is_one_short_line(tmp_path, capsys, fmt, kind):
    raw = tmp_path / "bin.csv"
    if kind == "zip":
        import zipfile

        with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("t.csv", "label,a\n1,x\n" * 1000)
    else:
        raw.write_bytes(b"label,a\n" + np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    code, _, err = _run(["prepare", "--format", fmt, "--input", str(raw), "--out", str(tmp_path / "o"),
                         "--quiet"], capsys)
    line = _one_line(err)
    assert code == 2 and "not a text file" in line and "expected CSV/TSV text" in line
    assert len(line) < 200


def test_duplicate_columns_are_refused(tmp_path, capsys):
    raw = tmp_path / "t.csv"
    raw.write_text("y,a,b,a\n" + "".join(f"{i % 2},x,y,z\n" for i in range(50)))
    code, _, err = _run(["prepare", "--format", "csv", "--input", str(raw), "--out", str(tmp_path / "o"),
                         "--label", "y", "--quiet"], capsys)
    assert code == 2 and "duplicate column names in the header: 'a'" in _one_line(err)
    t = pa.Table.from_arrays([pa.array([0, 1]), pa.array(["x", "y"]), pa.array(["u", "v"])], names=["y", "a", "a"])
    pq.write_table(t, tmp_path / "t.parquet")
    code, _, err = _run(["prepare", "--format", "parquet", "--input", str(tmp_path / "t.parquet"), "--out",
                         str(tmp_path / "o"), "--label", "y", "--quiet"], capsys)
    assert code == 2 and "duplicate column names in the Parquet schema: 'a'" in _one_line(err)


def test_long_bad_values_are_truncated(tmp_path, capsys):
    cols = _table(rows=100)
    cols["x"][10] = "n" * 5000
    raw = _write_csv(tmp_path / "t.csv", cols)
    code, _, err = _run(["prepare", "--format", "csv", "--input", str(raw), "--out", str(tmp_path / "o"),
                         "--label", "y", "--numeric", "x", "--quiet"], capsys)
    line = _one_line(err)
    assert code == 2 and "expected a number" in line and "..." in line and len(line) < 300


# ---- 3. --drop ----------------------------------------------------------------------------

def test_drop_removes_a_row_id_and_predict_ignores_it(tmp_path, capsys):
    cols = _table()
    raw = _write_csv(tmp_path / "t.csv", cols)
    d = prepare("csv", raw, tmp_path / "o", label="y", drop=["row_id"], pretrain_size=10, progress=False)
    assert "row_id" not in d.schema.names and d.schema.protocol["source_options"]["drop"] == ["row_id"]
    X, y, ids = d.encode_rows(raw, id_column="row_id")
    assert X.shape == (len(cols["y"]), d.schema.num_fields) and list(ids[:3]) == ["r0", "r1", "r2"]
    code, _, err = _run(["prepare", "--format", "csv", "--input", str(raw), "--out", str(tmp_path / "p"),
                         "--label", "y", "--drop", "nope", "--quiet"], capsys)
    assert code == 2 and "--drop: expected a column of the table, got 'nope'" in _one_line(err)
    code, _, err = _run(["prepare", "--format", "criteo", "--input", str(raw), "--out", str(tmp_path / "p"),
                         "--drop", "a", "--quiet"], capsys)
    assert code == 2 and "--drop: only for --format csv or parquet" in _one_line(err)


# ---- 4. non-regular inputs -----------------------------------------------------------------

def test_pipes_and_devices_are_refused(tmp_path, capsys, monkeypatch):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    msg = "expected a regular file or a folder of files, not a pipe or device; save the data to a file first"
    for fmt in ("csv", "criteo", "parquet", "movielens"):
        code, _, err = _run(["prepare", "--format", fmt, "--input", str(fifo), "--out", str(tmp_path / "o"),
                             "--quiet"], capsys)
        assert code == 2 and msg in _one_line(err), fmt
    monkeypatch.setenv("LIGHTFMP_CACHE", str(tmp_path / "cache"))
    code, _, err = _run(["train", "--format", "csv", "--input", "/dev/null", "--epochs", "1", "--quiet"], capsys)
    assert code == 2 and msg in _one_line(err)
    d = prepare("csv", _write_csv(tmp_path / "t.csv", _table()), tmp_path / "o", label="y", progress=False,
                pretrain_size=10)
    with pytest.raises(InputError, match="not a pipe or device"):
        d.encode_raw(fifo)


# ---- 5. killed prepare leftovers -----------------------------------------------------------

def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_tmp_folders_of_dead_processes_are_removed(tmp_path, monkeypatch):
    from lightfmp.data.open import open_data

    raw = _write_csv(tmp_path / "t.csv", _table())
    dead, live = _dead_pid(), os.getppid()
    out = tmp_path / "out"
    for name in (f"out.tmp-{dead}", f"out.old-{dead}", f"out.tmp-{live}", f"other.tmp-{dead}"):
        (tmp_path / name / "spill").mkdir(parents=True)
    prepare("csv", raw, out, label="y", pretrain_size=10, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["t.csv", "out", f"out.tmp-{live}",
                                                                 f"other.tmp-{dead}"])
    cache = tmp_path / "cache"
    (cache / f"csv-0123.tmp-{dead}").mkdir(parents=True)
    monkeypatch.setenv("LIGHTFMP_CACHE", str(cache))
    data = open_data(fmt="csv", input=raw, label="y", progress=False, pretrain_size=10)
    assert [p.name for p in cache.iterdir()] == [data.dir.name]


# ---- 6. corrupt data folders ---------------------------------------------------------------

@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("prep")
    raw = _write_csv(tmp / "t.csv", _table())
    prepare("csv", raw, tmp / "o", label="y", drop=["row_id"], pretrain_size=10, progress=False)
    return tmp / "o"


@pytest.mark.parametrize("content,needle", [
    (b"", "empty; expected a schema written by lightfmp"),
    (b"{not json", "not valid JSON"),
    (b'{"dataset": "x"}', "missing key 'fields'"),
    (b'{"fields": [{"name": "a"}]}', "not a valid schema"),
    (b'[1, 2]', "not a valid schema"),
    (b"\xff\xfe\x00garbage", "not a schema file"),
])
def test_corrupt_schema_is_one_line(prepared, tmp_path, capsys, content, needle):
    import shutil

    d = tmp_path / "d"
    shutil.copytree(prepared, d)
    (d / "schema.json").write_bytes(content)
    with pytest.raises(InputError, match="schema.json") as e:
        PreparedData.load(d)
    assert needle in str(e.value) and "\n" not in str(e.value)
    code, _, err = _run(["train", "--data", str(d), "--epochs", "1", "--quiet"], capsys)
    assert code == 2 and needle in _one_line(err)


@pytest.mark.parametrize("content", [b"", b"\x00garbage bytes" * 20, b"PAR1" + b"x" * 100 + b"PAR1"])
def test_corrupt_vocab_is_one_line(prepared, tmp_path, content):
    import shutil

    d = tmp_path / "d"
    shutil.copytree(prepared, d)
    data = PreparedData.load(d)
    (d / "vocab.parquet").write_bytes(content)
    with pytest.raises(InputError, match=r"vocab\.parquet: not a vocabulary file") as e:
        data.vocab()  # corrupted after loading
    assert "\n" not in str(e.value) and len(str(e.value)) < 300
    with pytest.raises(InputError, match=r"vocab\.parquet: not a vocabulary file"):
        PreparedData.load(d)


# ---- 7. encode_rows ------------------------------------------------------------------------

def test_encode_rows_table_matches_the_file(prepared, tmp_path):
    d = PreparedData.load(prepared)
    cols = _table()
    raw = _write_csv(tmp_path / "t.csv", cols)
    X_file, y_file, _ = d.encode_rows(raw)
    X_tab, y_tab, ids = d.encode_rows(pa.table(cols), id_column="row_id")
    np.testing.assert_array_equal(X_file, X_tab)
    np.testing.assert_array_equal(y_file, y_tab)
    assert list(ids[:2]) == ["r0", "r1"]
    X_dict, y_dict, _ = d.encode_rows({k: v for k, v in cols.items() if k != "y"}, fields=["b", "a"])
    np.testing.assert_array_equal(X_dict, X_file[:, [d.schema.names.index("b"), d.schema.names.index("a")]])
    assert y_dict is None
    blank = dict(cols, y=[None] * len(cols["y"]))
    assert d.encode_rows(blank)[1] is None
    part = dict(cols, y=[None] + cols["y"][1:])
    assert d.encode_rows(part)[1] is None
    with pytest.raises(InputError, match="no id column 'nope'"):
        d.encode_rows(cols, id_column="nope")
    with pytest.raises(InputError, match="no id column 'nope'"):
        d.encode_rows(raw, id_column="nope")


def test_encode_rows_blank_label_column_in_a_file(prepared, tmp_path):
    d = PreparedData.load(prepared)
    cols = _table()
    cols["y"] = [""] * len(cols["y"])
    X, y, _ = d.encode_rows(_write_csv(tmp_path / "t.csv", cols))
    assert y is None and len(X) == len(cols["y"])


def test_encode_rows_criteo_table_matches_the_tsv(tmp_path):
    from lightfmp.data.synthetic import write_criteo_tsv

    raw = write_criteo_tsv(tmp_path / "s.tsv", rows=2000, seed=3)
    d = prepare("criteo", raw, tmp_path / "o", pretrain_size=10, progress=False)
    import pyarrow.csv as pacsv
    from lightfmp.data.sources.criteo import CATEGORICAL_NAMES, NUMERIC_NAMES

    names = ["label", *NUMERIC_NAMES, *CATEGORICAL_NAMES]
    t = pacsv.read_csv(raw, read_options=pacsv.ReadOptions(column_names=names),
                       parse_options=pacsv.ParseOptions(delimiter="\t"),
                       convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}))
    X_file, y_file = d.encode_raw(raw)
    X_tab, y_tab, _ = d.encode_rows(t)  # every column as text: cast as the parser would
    np.testing.assert_array_equal(X_file, X_tab)
    np.testing.assert_array_equal(y_file, y_tab)


def test_encode_rows_avazu_and_movielens(tmp_path):
    avazu = SHARED / "avazu_sample" / "wide_resdnn"
    ml = SHARED / "movielens_100k"
    if not avazu.exists() or not ml.exists():
        pytest.skip("shared data not available")
    d = prepare("avazu", avazu, tmp_path / "a", rows=3000, pretrain_size=10, progress=False)
    import pyarrow.csv as pacsv

    train = avazu / "train.csv"
    t = pacsv.read_csv(train, convert_options=pacsv.ConvertOptions(
        column_types={"hour": pa.int64(), "id": pa.string(), "click": pa.string()})).slice(0, 500)
    X_tab, y_tab, ids = d.encode_rows(t, id_column="id")
    sub = tmp_path / "train.csv"
    pacsv.write_csv(t, sub)
    X_file, y_file, ids_file = d.encode_rows(sub, id_column="id")
    np.testing.assert_array_equal(X_file, X_tab)
    assert list(ids) == list(ids_file)
    m = prepare("movielens", ml, tmp_path / "m", rows=5000, pretrain_size=10, progress=False)
    with pytest.raises(InputError, match="give the path of a ratings file"):
        m.encode_rows({"user_id": [1]})


def test_gzip_input_is_read_directly_and_equals_the_plain_file(tmp_path):
    """gzip is recognised by its magic bytes, whatever the file's name, for every text format."""

    import numpy as np

    from lightfmp.data.dataset import PreparedData
    from lightfmp.data.prepare import prepare
    from lightfmp.data.synthetic import write_criteo_tsv

    plain = write_criteo_tsv(tmp_path / "raw.tsv", rows=3000, seed=4)
    packed = tmp_path / "raw_packed.txt"  # no .gz suffix on purpose
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    a = prepare("criteo", plain, tmp_path / "a", progress=False)
    b = prepare("criteo", packed, tmp_path / "b", progress=False)
    for split in ("train", "valid", "test"):
        np.testing.assert_array_equal(np.asarray(a.split(split)[0]), np.asarray(b.split(split)[0]))
        np.testing.assert_array_equal(a.split(split)[1], b.split(split)[1])
    X, y = PreparedData.load(tmp_path / "b").encode_raw(packed)
    assert X.shape == (3000, 39) and y is not None


def test_the_criteo_18k_sample_prepares_from_its_gzip_file(tmp_path, shared_data_dir):
    from lightfmp.data.prepare import prepare

    src = shared_data_dir / "criteo_kaggle_18k" / "criteo_pooled.tsv.gz"
    if not src.exists():
        pytest.skip(f"shared data not available: {src}")
    data = prepare("criteo", src, tmp_path / "c18", progress=False)
    assert sum(data.summary["rows"].values()) == 18_497 and data.schema.num_fields == 39
