"""`lightfmp report --html PAGE`: one self-contained page (tables with intervals, figures as data URIs, each
run's config one click away), opened in headless Chromium: every table and image renders and the console
stays silent. The run folders are small fakes with planted test scores, so the verdicts are known."""
import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from lightfmp.cli import exit_status
from lightfmp.metrics import auc, logloss
from lightfmp.report.html import check_html_out, markdown_html, page, write_page

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (Debian: apt-get install chromium)")

TRAIN = {"lr": 0.001, "batch_size": 256, "epochs": 5, "patience": 2, "device": "cpu"}
FIELDS = [f"C{i}" for i in range(1, 7)]

# Filled in by the script the test adds to its copy of the page (the page itself has none): what the
# browser made of every table and image after load.
PROBE = """<script>window.addEventListener("load", () => {
  const out = {tables: [], images: []};
  for (const t of document.querySelectorAll("table"))
    out.tables.push({rows: t.rows.length, height: t.getBoundingClientRect().height});
  for (const i of document.images)
    out.images.push({complete: i.complete, width: i.naturalWidth, height: i.naturalHeight});
  const pre = document.createElement("pre"); pre.id = "probe"; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});</script>"""


def render(page_path, tmp_path):
    """(probe dict, console lines) of ``page_path`` as headless Chromium loads it."""
    probe_page = tmp_path / "probe.html"
    probe_page.write_text(page_path.read_text().replace("</body>", PROBE + "</body>"))
    res = subprocess.run([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--enable-logging=stderr",
                          "--v=0", "--virtual-time-budget=5000", "--dump-dom", probe_page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    m = re.search(r'<pre id="probe">(.*?)</pre>', res.stdout, re.S)
    assert m, f"chromium rc={res.returncode}, no probe in the DOM; stderr tail: {res.stderr[-2000:]}"
    probe = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    console = [line for line in res.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    return probe, console


def _run(root, name, method, model, seed, scores, y, data_dir, tau=0.5, total=10.0, pre=2.0):
    folder = root / name
    folder.mkdir(parents=True)
    report = {"method": method, "model": model, "dataset": "criteo", "seed": seed,
              "prune_ratio": 0.0 if method == "none" else tau, "pretrain_rows": 0 if method == "none" else 2000,
              "train_rows": 6400, "fields_total": len(FIELDS), "auc": auc(y, scores), "logloss": logloss(y, scores),
              "total_seconds": total, "pretrain_seconds": 0.0 if method == "none" else pre,
              "continued_seconds": total - (0.0 if method == "none" else pre)}
    if method == "lightfmp":
        keep = int(round(len(FIELDS) * (1 - tau)))
        report["mask"] = {f: 1.0 - k / len(FIELDS) for k, f in enumerate(FIELDS)}
        report["fields_kept"] = FIELDS[:keep]
    config = {"method": method, "model": model, "model_config": {"embed_dim": 4, "hidden": [16]},
              "train_config": {**TRAIN, "seed": seed}, "data": {"dir": str(data_dir), "dataset": "criteo"}}
    (folder / "report.json").write_text(json.dumps(report))
    (folder / "config.json").write_text(json.dumps(config))
    np.save(folder / "test_scores.npy", scores.astype(np.float32))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """3 seeds of No Selection, OptFS and Light-FMP (xDeepFM; Light-FMP also at tau 0.25) and a DeepFM pair,
    on one 4,000-row test split; Light-FMP's scores carry a much stronger planted signal than the others'."""
    root = tmp_path_factory.mktemp("runs")
    data_dir = root / "data"
    data_dir.mkdir()
    rng = np.random.default_rng(0)
    n = 4000
    y = (rng.random(n) < 0.25).astype(np.float32)
    np.save(data_dir / "test_y.npy", y)

    def scorer(signal):
        return 1 / (1 + np.exp(-(rng.normal(0, 1, n) + signal * y - 1.2)))

    for seed in range(3):
        _run(root, f"none-s{seed}", "none", "xdeepfm", seed, scorer(0.3), y, data_dir, total=10.0 + seed)
        _run(root, f"optfs-s{seed}", "optfs", "xdeepfm", seed, scorer(0.3), y, data_dir, total=14.0, pre=5.0)
        _run(root, f"lf-s{seed}", "lightfmp", "xdeepfm", seed, scorer(1.5), y, data_dir, total=6.0)
        _run(root, f"lf25-s{seed}", "lightfmp", "xdeepfm", seed, scorer(1.5), y, data_dir, tau=0.25, total=7.0)
        _run(root, f"dfm-none-s{seed}", "none", "deepfm", seed, scorer(0.3), y, data_dir, total=5.0)
        _run(root, f"dfm-lf-s{seed}", "lightfmp", "deepfm", seed, scorer(1.5), y, data_dir, total=3.0)
    return root


@pytest.fixture(scope="module")
def html_page(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("page") / "report.html"
    assert exit_status(["report", str(runs), "--html", str(out), "--bootstrap", "100"]) == 0
    return out


def test_page_is_self_contained_with_intervals_and_configs(html_page, runs):
    text = html_page.read_text()
    assert not re.search(r'(src|href)="(https?:)?//', text)  # nothing fetched
    assert "<script" not in text
    imgs = re.findall(r'<img [^>]*src="([^"]+)"', text)
    assert imgs and all(s.startswith("data:image/png;base64,") for s in imgs)
    assert text.count("<details") == len(list(runs.glob("*/report.json")))  # every run, one click away
    assert '&quot;embed_dim&quot;: 4' in text  # its config.json inside (escaped)
    # Light-FMP's planted AUC gap over No Selection: both intervals above zero, so "agrees" with the paper
    row = next(r for r in re.findall(r"<tr>.*?</tr>", text)
               if "Light-FMP (deep)</td><td>No Selection</td><td>AUC" in r)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    seeds_iv, rows_iv = cells[8], cells[9]
    assert seeds_iv.startswith("[+") and rows_iv.startswith("[+"), (seeds_iv, rows_iv)
    assert '<td class="agrees">agrees</td>' in row


@needs_chromium
def test_every_table_and_image_renders_in_chromium_and_the_console_is_silent(html_page, tmp_path):
    probe, console = render(html_page, tmp_path)
    assert len(probe["tables"]) >= 4 and len(probe["images"]) >= 3
    assert all(t["rows"] > 1 and t["height"] > 0 for t in probe["tables"]), probe["tables"]
    assert all(i["complete"] and i["width"] > 0 and i["height"] > 0 for i in probe["images"]), probe["images"]
    assert console == [], console


@needs_chromium
def test_the_chromium_check_sees_a_broken_image_and_a_console_error(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text(page("bad", "# t\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
                   .replace("</body>", '<img src="data:image/png;base64,AAAA"><script>console.error("x")</script>'
                                       "</body>"))
    probe, console = render(bad, tmp_path)
    assert [i["width"] for i in probe["images"]] == [0]
    assert console and "x" in console[0]


def test_markdown_subset():
    out = markdown_html("## T\n\ntext **b** `c`\n\n- one\n  - two\n\n| h | v |\n|---|---|\n| x | cannot tell |\n")
    assert "<h2>T</h2>" in out and "<strong>b</strong>" in out and "<code>c</code>" in out
    assert out.count("<ul>") == 2 and '<td class="unclear">cannot tell</td>' in out
    assert "<script>" not in markdown_html("<script>alert(1)</script>")  # escaped


def test_page_is_written_only_over_our_own(tmp_path, runs):
    foreign = tmp_path / "notes.html"
    foreign.write_text("<html>mine</html>")
    assert exit_status(["report", str(runs), "--html", str(foreign), "--bootstrap", "0"]) != 0
    assert foreign.read_text() == "<html>mine</html>"
    ours = tmp_path / "ours.html"
    write_page(ours, page("x", "# one"))
    write_page(ours, page("x", "# two"))  # ours: replaced
    assert "<h1>two</h1>" in ours.read_text() and not list(tmp_path.glob(".*.tmp"))
    for bad in (tmp_path, tmp_path / "missing" / "p.html"):
        with pytest.raises(Exception, match="--html"):
            check_html_out(bad)
