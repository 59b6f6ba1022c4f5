"""Every bad input a user can give: one line on stderr, no traceback, the documented exit status, and
nothing of the user's lost. One row per case: (name, make argv, exit status, message fragments)."""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from lightfmp.cli import exit_status
from lightfmp.data.synthetic import write_criteo_tsv

TINY = ["--hidden", "8", "--epochs", "1", "--batch-size", "512", "--quiet"]


@dataclass
class Ctx:
    tmp: Path        # this case's own folder
    data: Path       # a prepared synthetic data folder (shared, never modified)
    run: Path        # a trained run folder (shared, never modified)
    raw: Path        # a raw Criteo-format TSV the run can score

    def foreign(self) -> Path:
        """A folder of the user's that lightfmp did not write."""
        d = self.tmp / "mine"
        d.mkdir(exist_ok=True)
        (d / "thesis.tex").write_text("precious")
        return d

    def file(self, name: str = "notes.txt") -> Path:
        p = self.tmp / name
        p.write_text("precious\n")
        return p

    def run_copy(self) -> Path:
        d = self.tmp / "run"
        shutil.copytree(self.run, d)
        return d

    def csv(self, rows: list[str], name: str = "t.csv", header: str = "a,b,label") -> Path:
        p = self.tmp / name
        p.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
        return p


def _balanced(n: int = 400) -> list[str]:
    rng = np.random.default_rng(0)
    return [f"x{rng.integers(5)},{rng.integers(9)},{i % 2}" for i in range(n)]


def _prep(*args: str) -> list[str]:
    return ["prepare", *args, "--pretrain-size", "10", "--quiet"]


def _corrupt(name: str, content: bytes) -> Callable[[Ctx], list[str]]:
    def make(c: Ctx) -> list[str]:
        run = c.run_copy()
        (run / name).write_bytes(content)
        return ["predict", "--run", str(run), "--input", str(c.raw)]
    return make


def _stale_run_file(name: str, content: bytes) -> Callable[[Ctx], list[str]]:
    def make(c: Ctx) -> list[str]:
        run = c.run_copy()
        (run / name).write_bytes(content)
        return ["report", str(run)]
    return make


def _data_copy_with(name: str, content: bytes) -> Callable[[Ctx], list[str]]:
    def make(c: Ctx) -> list[str]:
        d = c.tmp / "data"
        shutil.copytree(c.data, d)
        (d / name).write_bytes(content)
        return ["train", "--data", str(d), "--out", str(c.tmp / "r"), *TINY]
    return make


# (name, argv maker, exit status, fragments of the one stderr line)
CASES: list[tuple[str, Callable[[Ctx], list[str]], int, tuple[str, ...]]] = [
    # 1. nothing of the user's is lost
    ("train --out a foreign folder", lambda c: ["train", "--data", str(c.data), "--out", str(c.foreign()), *TINY],
     2, ("lightfmp did not write", "refusing")),
    ("prune --out a foreign folder", lambda c: ["prune", "--data", str(c.data), "--out", str(c.foreign()), *TINY],
     2, ("lightfmp did not write",)),
    ("select --out a foreign folder", lambda c: ["select", "--method", "lasso", "--data", str(c.data), "--out",
                                                 str(c.foreign()), *TINY], 2, ("lightfmp did not write",)),
    ("prepare --out a foreign folder", lambda c: _prep("--format", "criteo", "--input", str(c.raw), "--out",
                                                       str(c.foreign())), 2, ("refusing",)),
    ("train --data D --out D", lambda c: ["train", "--data", str(c.data), "--out", str(c.data), *TINY],
     2, ("is the input",)),
    ("train --out a folder above the data", lambda c: ["train", "--data", str(c.data), "--out", str(c.data.parent),
                                                       *TINY], 2, ("is the input",)),
    ("train --out .", lambda c: ["train", "--data", str(c.data), "--out", ".", *TINY], 2, ("current folder",)),
    ("prune --out .", lambda c: ["prune", "--data", str(c.data), "--out", ".", *TINY], 2, ("current folder",)),
    ("prepare --out .", lambda c: _prep("--format", "criteo", "--input", str(c.raw), "--out", "."),
     2, ("current folder",)),
    ("train --out an existing file", lambda c: ["train", "--data", str(c.data), "--out", str(c.file()), *TINY],
     2, ("is a file",)),
    ("prepare --out an existing file", lambda c: _prep("--format", "criteo", "--input", str(c.raw), "--out",
                                                       str(c.file())), 2, ("file",)),
    ("prepare --out a run folder", lambda c: _prep("--format", "criteo", "--input", str(c.raw), "--out",
                                                   str(c.run_copy())), 2, ("run folder",)),
    ("train --out a data folder", lambda c: ["train", "--data", str(c.data), "--out", str(c.tmp / "d2"), *TINY]
     if shutil.copytree(c.data, c.tmp / "d2") else [], 2, ("prepared data folder",)),
    ("demo --out a foreign folder", lambda c: ["demo", "--rows", "5000", "--out", str(c.foreign())],
     2, ("did not write",)),
    # unwritable destinations (root ignores chmod: a file stands where a folder must be)
    ("train --out under a file", lambda c: ["train", "--data", str(c.data), "--out", str(c.file() / "run"), *TINY],
     2, ("is a file",)),
    ("prepare --out under a file", lambda c: _prep("--format", "criteo", "--input", str(c.raw), "--out",
                                                   str(c.file() / "data")), 2, ("is a file",)),
    ("predict --out under a file", lambda c: ["predict", "--run", str(c.run), "--input", str(c.raw), "--out",
                                              str(c.file() / "s.csv")], 2, ("is a file",)),
    ("report --plot under a file", lambda c: ["report", str(c.run), "--plot", str(c.file() / "plots")], 2, ()),
    ("predict --out into a missing folder", lambda c: ["predict", "--run", str(c.run), "--input", str(c.raw),
                                                       "--out", str(c.tmp / "nope" / "s.csv")],
     2, ("does not exist",)),
    ("predict --out the input file", lambda c: ["predict", "--run", str(c.run), "--input", str(c.raw), "--out",
                                                str(c.raw)], 2, ("input file",)),
    ("predict --out a foreign file", lambda c: ["predict", "--run", str(c.run), "--input", str(c.raw), "--out",
                                                str(c.file())], 2, ("not written by",)),
    ("predict --out a folder", lambda c: ["predict", "--run", str(c.run), "--input", str(c.raw), "--out",
                                          str(c.foreign())], 2, ("is a folder",)),
    # 2. corrupt or empty files of ours
    ("empty model.pt", _corrupt("model.pt", b""), 2, ("model.pt",)),
    ("garbage model.pt", _corrupt("model.pt", b"\x00\x01not a torch file" * 50), 2, ("model.pt",)),
    ("empty report.json", _corrupt("report.json", b""), 2, ("report.json", "empty")),
    ("corrupt config.json", _corrupt("config.json", b"{\"method\": "), 2, ("config.json",)),
    ("corrupt schema.json", _corrupt("schema.json", b"[1, 2"), 2, ("schema.json",)),
    ("empty vocab.parquet", _corrupt("vocab.parquet", b""), 2, ("vocab.parquet",)),
    ("report of an empty report.json", _stale_run_file("report.json", b""), 2, ("report.json",)),
    ("data folder with a corrupt schema.json", _data_copy_with("schema.json", b"{oops"), 2, ("schema.json",)),
    ("data folder with garbage vocab.parquet", _data_copy_with("vocab.parquet", b"PAR1garbage"), 2, ()),
    ("predict --run a missing folder", lambda c: ["predict", "--run", str(c.tmp / "nope"), "--input", str(c.raw)],
     2, ("run folder",)),
    ("predict --run a data folder", lambda c: ["predict", "--run", str(c.data), "--input", str(c.raw)],
     2, ("report.json",)),
    ("resume without a checkpoint", lambda c: ["train", "--data", str(c.data), "--out", str(c.tmp / "r"),
                                               "--resume", *TINY], 2, ("checkpoint",)),
    # inputs that are not plain files
    ("predict --input /dev/stdin", lambda c: ["predict", "--run", str(c.run), "--input", "/dev/stdin"],
     2, ("regular file",)),
    ("prepare --input /dev/stdin", lambda c: _prep("--format", "csv", "--input", "/dev/stdin", "--out",
                                                   str(c.tmp / "o")), 2, ("regular file",)),
    ("train --format csv --input /dev/stdin", lambda c: ["train", "--format", "csv", "--input", "/dev/stdin",
                                                         "--out", str(c.tmp / "r"), *TINY], 2, ("regular file",)),
    # 3-5. labels, text, columns
    ("csv with duplicate column names", lambda c: _prep("--format", "csv", "--input",
                                                        str(c.csv(_balanced(), header="a,a,label")), "--out",
                                                        str(c.tmp / "o")), 2, ("'a'",)),
    ("labels other than 0/1", lambda c: _prep("--format", "csv", "--input",
                                              str(c.csv([r[:-1] + ("yes" if r[-1] == "1" else "no")
                                                         for r in _balanced()])), "--out", str(c.tmp / "o")),
     2, ("yes", "200", "--label-map")),
    ("one label class only", lambda c: _prep("--format", "csv", "--input",
                                             str(c.csv([r[:-1] + "0" for r in _balanced()])), "--out",
                                             str(c.tmp / "o")), 2, ("positive",)),
    ("binary garbage as csv", lambda c: _prep("--format", "csv", "--input",
                                              str((c.tmp / "g.csv").write_bytes(
                                                  bytes(np.random.default_rng(1).integers(0, 256, 4000,
                                                                                          dtype=np.uint8)))
                                                  and c.tmp / "g.csv"), "--out", str(c.tmp / "o")),
     2, ("binary",)),
    ("zip given as criteo", lambda c: _prep("--format", "criteo", "--input", str(_zip(c)), "--out",
                                            str(c.tmp / "o")), 2, ("not a text file", "zip")),
    ("truncated gzip", lambda c: _prep("--format", "criteo", "--input", str(_gzip(c, truncate=True)), "--out",
                                       str(c.tmp / "o")), 2, ("truncated gzip",)),
    ("unknown delimiter", lambda c: _prep("--format", "csv", "--input",
                                          str(c.csv([r.replace(",", ":") for r in _balanced()], header="a:b:label")),
                                          "--out", str(c.tmp / "o")), 2, ("--delimiter",)),
    ("--drop a missing column", lambda c: _prep("--format", "csv", "--input", str(c.csv(_balanced())), "--drop",
                                                "row_id", "--out", str(c.tmp / "o")), 2, ("row_id",)),
    ("--label names a missing column", lambda c: _prep("--format", "csv", "--input", str(c.csv(_balanced())),
                                                       "--label", "click", "--out", str(c.tmp / "o")), 2, ()),
    # options
    ("--device cuda without a GPU", lambda c: ["train", "--data", str(c.data), "--device", "cuda", *TINY]
     if not _has_cuda() else pytest.skip("a GPU is present"), 2, ("cuda",)),
    ("--hidden not numbers", lambda c: ["train", "--data", str(c.data), "--hidden", "4x4", "--out",
                                        str(c.tmp / "r")], 2, ("--hidden",)),
    ("unknown option", lambda c: ["train", "--data", str(c.data), "--epoch", "3"], 2, ("--epoch",)),
    ("--keep-fields names no field", lambda c: ["prune", "--data", str(c.data), "--keep-fields", "nope",
                                                "--out", str(c.tmp / "r"), *TINY], 2, ("nope",)),
    # 2. runs that fail: one line, exit 1
    ("training diverges", lambda c: ["train", "--data", str(c.data), "--out", str(c.tmp / "r"), "--lr", "1e30",
                                     "--hidden", "8", "--epochs", "1", "--batch-size", "64", "--quiet"],
     1, ("diverged",)),
    ("a selector search diverges", lambda c: ["select", "--method", "autofield", "--data", str(c.data), "--out",
                                              str(c.tmp / "r"), "--lr", "1e30", "--hidden", "8", "--epochs", "1",
                                              "--batch-size", "64", "--search-epochs", "1", "--quiet"],
     1, ("diverged",)),
]


def _gzip(c: Ctx, truncate: bool = False) -> Path:
    import gzip

    p = c.tmp / "train.txt.gz"
    blob = gzip.compress(c.raw.read_bytes())
    p.write_bytes(blob[:len(blob) // 2] if truncate else blob)
    return p


def _zip(c: Ctx) -> Path:
    import zipfile

    p = c.tmp / "train.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.write(c.raw, "train.txt")
    return p


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Ctx:
    root = tmp_path_factory.mktemp("bad_inputs")
    raw = write_criteo_tsv(root / "raw.tsv", rows=600, seed=3)
    data, run = root / "data", root / "runs" / "dnn"
    assert main_code(["prepare", "--format", "synthetic", "--rows", "3000", "--out", str(data),
                      "--pretrain-size", "200", "--quiet"]) == 0
    assert main_code(["train", "--data", str(data), "--out", str(run), *TINY]) == 0
    return Ctx(tmp=root, data=data, run=run, raw=raw)


main_code = exit_status  # the exit status `lightfmp` would end with, without exiting


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_table_is_long_enough():
    assert len(CASES) >= 30 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("name,make,code,needles", CASES, ids=[c[0] for c in CASES])
def test_bad_input(name, make, code, needles, shared, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a stray file (checkpoint.pt, scores) would land here
    ctx = Ctx(tmp=tmp_path, data=shared.data, run=shared.run, raw=shared.raw)
    argv = make(ctx)
    capsys.readouterr()
    before_shared = _snapshot(shared.tmp)
    before_case = _snapshot(tmp_path)
    got = main_code(argv)
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert got == code, (argv, err)
    assert len(lines) == 1 and lines[0].startswith("lightfmp: error:"), err
    assert "Traceback" not in err and len(lines[0]) <= 500, err
    for n in needles:
        assert n in err, (n, err)
    # nothing of the user's was changed, and nothing was left behind
    assert _snapshot(shared.tmp) == before_shared
    after = _snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k in before_case} == before_case
    assert not (tmp_path / "checkpoint.pt").exists()
    assert not [p for p in tmp_path.rglob("*") if ".tmp-" in p.name]
