"""The mask heatmap (paper Figure 3)."""
import numpy as np
import pytest

from lightfmp.plots import mask_heatmap_from_reports, normalise_scores, plot_mask_heatmap


def test_normalise_scores():
    assert normalise_scores([1.0, 3.0, 2.0]).tolist() == [0.0, 1.0, 0.5]
    assert normalise_scores([0.7, 0.7]).tolist() == [1.0, 1.0]


def test_heatmap_png_written(tmp_path):
    names = [f"C{i}" for i in range(1, 9)]
    rng = np.random.default_rng(0)
    scores = rng.random((4, 8))
    kept = [scores[i] >= np.sort(scores[i])[round(r * 8)] if r > 0 else [True] * 8
            for i, r in enumerate([0, 0.25, 0.5, 0.75])]
    out = plot_mask_heatmap(names, [0, 0.25, 0.5, 0.75], scores, kept, tmp_path / "sub" / "m.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
    with pytest.raises(ValueError):
        plot_mask_heatmap(names, [0, 0.5], scores, kept, tmp_path / "bad.png")


def test_heatmap_from_reports(tmp_path):
    reps = [{"prune_ratio": r, "mask": {"a": 0.9, "b": 0.2 + r, "c": 0.1}, "fields_kept": ["a", "b"]}
            for r in (0.5, 0.0)]
    out = mask_heatmap_from_reports(reps, tmp_path / "h.png")
    assert out.exists()
    with pytest.raises(ValueError):
        mask_heatmap_from_reports([{"prune_ratio": 0.5}], tmp_path / "x.png")
