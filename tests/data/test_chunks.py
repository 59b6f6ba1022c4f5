"""Chunked parallel CSV reading: chunk and group boundaries change nothing, errors keep their lines."""
from __future__ import annotations

import numpy as np
import pytest

from lightfmp.data.prepare import prepare
from lightfmp.data.sources import csvstream
from lightfmp.data.synthetic import write_criteo_tsv
from lightfmp.errors import InputError

HEADER = "label," + ",".join(f"I{i}" for i in range(1, 14)) + "," + ",".join(f"C{i}" for i in range(1, 27)) + "\n"


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    return write_criteo_tsv(tmp_path_factory.mktemp("raw") / "s.tsv", rows=3000, seed=4)


def _small_chunks(monkeypatch):
    # ~4 KB chunks (about 16 rows, cut mid-line) grouped by 100 rows: hundreds of chunks, 30 groups.
    monkeypatch.setattr(csvstream, "CHUNK_BYTES", 4000)
    monkeypatch.setattr(csvstream, "GROUP_ROWS", 100)


def _same(a, b):
    assert a.schema.vocab_sizes == b.schema.vocab_sizes
    for s in ("train", "valid", "test"):
        np.testing.assert_array_equal(a.split(s)[0], b.split(s)[0])
        np.testing.assert_array_equal(a.split(s)[1], b.split(s)[1])
    np.testing.assert_array_equal(a.pretrain_index, b.pretrain_index)
    for n in a.schema.names:
        assert a.vocab([n])[n].equals(b.vocab([n])[n]), n


def test_small_chunks_and_groups_give_the_same_data(raw, tmp_path, monkeypatch):
    whole = prepare("criteo", raw, tmp_path / "whole", pretrain_size=50, progress=False)
    _small_chunks(monkeypatch)
    chunked = prepare("criteo", raw, tmp_path / "chunked", pretrain_size=50, progress=False)
    _same(whole, chunked)


def test_header_file_without_final_newline(raw, tmp_path, monkeypatch):
    """A comma-separated file with a header (the DeepCTR sample's layout) and no final newline."""
    lines = raw.read_text().splitlines()
    csv = tmp_path / "h.csv"
    csv.write_text(HEADER + "\n".join(x.replace("\t", ",") for x in lines))
    a = prepare("criteo", raw, tmp_path / "a", pretrain_size=50, progress=False)
    _small_chunks(monkeypatch)
    b = prepare("criteo", csv, tmp_path / "b", pretrain_size=50, progress=False)
    _same(a, b)


@pytest.mark.parametrize("line_no", [2, 1234, 3000])
def test_error_line_numbers_across_chunks(raw, tmp_path, monkeypatch, line_no):
    lines = raw.read_text().splitlines(keepends=True)
    cells = lines[line_no - 1].split("\t")
    cells[5] = "x5"  # I5 is numeric
    lines[line_no - 1] = "\t".join(cells)
    bad = tmp_path / "bad.tsv"
    bad.write_text("".join(lines))
    _small_chunks(monkeypatch)
    with pytest.raises(InputError) as e:
        prepare("criteo", bad, tmp_path / "o", pretrain_size=50, progress=False)
    assert f"line {line_no}" in str(e.value) and "'I5'" in str(e.value) and "'x5'" in str(e.value)
    assert not (tmp_path / "o").exists()


def test_blank_line_is_a_missing_label_at_its_line(raw, tmp_path, monkeypatch):
    lines = raw.read_text().splitlines(keepends=True)
    bad = tmp_path / "blank.tsv"
    bad.write_text("".join(lines[:2000]) + "\n" + "".join(lines[2000:]))
    _small_chunks(monkeypatch)
    with pytest.raises(InputError, match=r"line 2001.*expected a label 0 or 1, got an empty value"):
        prepare("criteo", bad, tmp_path / "o", pretrain_size=50, progress=False)


def test_chunk_ranges_cover_the_bytes_and_end_at_newlines():
    data = b"a\nbb\n" + b"c" * 50 + b"\nd\ne"
    ranges = list(csvstream._line_chunks(data, 4))
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
    assert all(b[0] == a[1] for a, b in zip(ranges, ranges[1:]))
    assert all(data[e - 1:e] == b"\n" for _, e in ranges[:-1])
    assert (5, 56) in ranges  # the 51-byte line, longer than the chunk size, is one range


def test_other_encodings_are_refused(tmp_path):
    layout = csvstream.CsvLayout(",", False, ("a",))
    with pytest.raises(ValueError, match="UTF-8 or latin-1"):
        next(csvstream.stream_csv(tmp_path / "x.csv", layout, {}, ["a"], encoding="utf-16"))
