"""Light-FMP timing against No Selection on synthetic Criteo-shaped sets (issue 5 speed targets).

For each backbone: No Selection (all 39 fields, whole train split) vs Light-FMP at tau (default 0.5):
PT (phase 1 + surgery), CT (continued training, validation included), TT = PT + CT, IT (forward
passes over the test split, best of --it-repeats interleaved passes), and the ratios TT/TT_none,
IT/IT_none, PT/TT, and the data size at which PT/TT would fall to 2%: PT is a fixed cost (phase 1 sees
D_S only) while CT grows with the rows, so with the same epochs CT(R) = CT * R / rows and the share
reaches 2% where CT(R) = 49 PT. That column is arithmetic on this run's figures, not a measurement.
IT counts the forward passes over already-encoded ids. Serving from raw rows also reads and encodes
them, and the compact model reads only its kept fields (paper Sec. 2.6: "the input features x are
pruned according to the masking variable z"), so ``--serve-rows N`` (default 100,000; 0 skips) also
times that path for both models on a raw Criteo TSV of N rows from the same generator: parse + encode
with the stored vocabularies (`PreparedData.encode_raw`, what `lightfmp predict` runs) + forward,
best of --it-repeats interleaved passes. It is printed as its own ratio, beside IT, not instead of it.
Targets: TT ratio <= 0.65, IT ratio <= 0.65, PT/TT <= 2% (DNN at 1,000,000 rows, xDeepFM at 200,000).
The DNN's IT ratio has an arithmetic floor: pruning removes only the first Linear's input columns,
so at 19 of 39 fields a sample costs 316,200 of 396,200 multiply-adds (390-400-400-200-1 against
190-400-400-200-1), 0.80 of No Selection's, plus half the embedding gather. Measured: 0.753 (one
AMD core) and 0.796 (one Xeon core). CIN's cost falls at least in proportion to the fields
(its first layer with their square), so xDeepFM's floor is near 0.5.

Smoke run:  python bench/lightfmp_speed.py --dnn-rows 50000 --xdeepfm-rows 10000 --epochs 1
Full run:   python bench/lightfmp_speed.py                       (1,000,000 and 200,000 rows)
GPU:        python bench/lightfmp_speed.py --device cuda --dnn-rows 0 --xdeepfm-rows 1000000

Before anything is timed, both methods run once on a small set (`--warmup-rows`): the first model a
process trains pays one-off costs (CUDA context and cuBLAS handles, kernel selection, allocator
growth; on this CPU VM the first pass was measured up to 30% slower), which would otherwise be charged
to whichever method runs first. Per-epoch seconds (training, and validation) are printed so that the
fixed costs (PT, evaluation) can be told from the per-epoch ones.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from lightfmp_accuracy import light_fmp, no_selection  # noqa: E402

from lightfmp.data.open import open_data  # noqa: E402
from lightfmp.data.synthetic import write_criteo_tsv  # noqa: E402
from lightfmp.models import ModelConfig  # noqa: E402
from lightfmp.train import TrainConfig, evaluate, predict_logits  # noqa: E402


def _epochs(history: list[dict]) -> str:
    """'epoch s: 2.1+0.3, 2.0+0.3' (training + validation seconds of each epoch)."""
    parts = [f"{h['seconds']:.2f}+{h.get('val_seconds', 0.0):.2f}" for h in history]
    return "epoch s (train+valid): " + ", ".join(parts)


def _best_interleaved(first, second, repeats: int) -> tuple[float, float]:
    """Best of ``repeats`` seconds of two timed passes (callables returning seconds), interleaved so that
    a slow spell of this shared VM hits both sides: a single pass of under a second is noise-sized."""
    best_first = best_second = float("inf")
    for _ in range(repeats):
        best_first, best_second = min(best_first, first()), min(best_second, second())
    return best_first, best_second


def _inference_seconds(full, est, data, tcfg: TrainConfig, repeats: int) -> tuple[float, float]:
    """Test-split inference seconds of both models (forward passes over encoded ids)."""
    X, y = data.split("test")
    return _best_interleaved(lambda: evaluate(full, X, y, batch_size=tcfg.eval_batch_size, device=tcfg.device).seconds,
                             lambda: est.evaluate(X, y).seconds, repeats)


def _serve_seconds(full, est, data, raw: Path, tcfg: TrainConfig, repeats: int) -> tuple[float, float]:
    """Seconds to score a raw file end to end (read + encode + forward), both models: the full model
    reads every field, the compact one its kept fields only."""
    def once(model, fields) -> float:
        t = time.perf_counter()
        X, _ = data.encode_raw(raw, fields=fields)
        predict_logits(model, X, batch_size=tcfg.eval_batch_size, device=tcfg.device)
        return time.perf_counter() - t

    return _best_interleaved(lambda: once(full, None), lambda: once(est.model_, est.selected_fields_), repeats)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dnn-rows", type=int, default=1_000_000, help="0 skips DNN")
    ap.add_argument("--xdeepfm-rows", type=int, default=200_000, help="0 skips xDeepFM")
    ap.add_argument("--prune-ratio", type=float, default=0.5)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--patience", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--it-repeats", type=int, default=3, help="interleaved inference passes; the best counts")
    ap.add_argument("--serve-rows", type=int, default=100_000,
                    help="raw rows scored end to end (read + encode + forward); 0 skips")
    ap.add_argument("--work", type=Path, default=ROOT / "out" / "lightfmp_speed", help="where the raw file goes")
    ap.add_argument("--warmup-rows", type=int, default=20_000, help="0 skips the untimed warm-up")
    args = ap.parse_args(argv)

    rows = []
    for model, n in (("dnn", args.dnn_rows), ("xdeepfm", args.xdeepfm_rows)):
        if n <= 0:
            continue
        t0 = time.perf_counter()
        data = open_data(fmt="synthetic", rows=n, progress=False)
        print(f"[{model}] {n:,} rows prepared/cached in {time.perf_counter() - t0:.1f} s", flush=True)
        mcfg = ModelConfig()
        tcfg = TrainConfig(epochs=args.epochs, patience=args.patience, batch_size=args.batch_size,
                           seed=args.seed, device=args.device)
        if args.warmup_rows > 0:
            t0 = time.perf_counter()
            small = open_data(fmt="synthetic", rows=args.warmup_rows, progress=False)
            warm = TrainConfig(**{**tcfg.to_dict(), "epochs": 1})
            no_selection(small, model, mcfg, warm)
            light_fmp(small, model, args.prune_ratio, mcfg, warm)
            print(f"[{model}] warm-up on {args.warmup_rows:,} rows (untimed): {time.perf_counter() - t0:.1f} s",
                  flush=True)
        base = no_selection(data, model, mcfg, tcfg, keep_model=True)
        print(f"[{model}] No Selection: TT {base['tt']:.1f} s, {base['epochs']} epochs, AUC {base['auc']:.4f}; "
              f"{_epochs(base['history'])}", flush=True)
        lf, est = light_fmp(data, model, args.prune_ratio, mcfg, tcfg)
        print(f"[{model}] Light-FMP: PT {lf['pt']:.2f} s ({lf['pt_steps']} steps), CT {lf['ct']:.1f} s, "
              f"{lf['epochs']} epochs, AUC {lf['auc']:.4f}; {_epochs(lf['history'])}", flush=True)
        full = base.pop("model")
        base["it"], lf["it"] = _inference_seconds(full, est, data, tcfg, repeats=args.it_repeats)
        print(f"[{model}] IT, best of {args.it_repeats} interleaved passes over the test split: "
              f"No Selection {base['it']:.3f} s, Light-FMP {lf['it']:.3f} s", flush=True)
        base["serve"] = lf["serve"] = float("nan")
        if args.serve_rows > 0:
            args.work.mkdir(parents=True, exist_ok=True)
            raw = args.work / f"synthetic-{args.serve_rows}.tsv"
            if not raw.exists():
                write_criteo_tsv(raw, args.serve_rows, seed=data.truth["generator"]["seed"])
            base["serve"], lf["serve"] = _serve_seconds(full, est, data, raw, tcfg, args.it_repeats)
            print(f"[{model}] serving {args.serve_rows:,} raw rows (read + encode + forward), best of "
                  f"{args.it_repeats}: No Selection {base['serve']:.3f} s, Light-FMP {lf['serve']:.3f} s", flush=True)
        rows.append((model, n, base, lf))

    print(f"\nLight-FMP vs No Selection, tau = {args.prune_ratio:g}, device {args.device}")
    head = (f"{'model':8} {'rows':>10} {'method':13} {'PT s':>8} {'CT s':>9} {'TT s':>9} {'IT s':>8} "
            f"{'params':>11} {'AUC':>7} {'epochs':>6}")
    print(head)
    print("-" * len(head))
    for model, n, base, lf in rows:
        for name, r in (("No Selection", base), ("Light-FMP", lf)):
            print(f"{model:8} {n:>10,} {name:13} {r['pt']:>8.2f} {r['ct']:>9.1f} {r['tt']:>9.1f} {r['it']:>8.3f} "
                  f"{r['params']:>11,} {r['auc']:>7.4f} {r['epochs']:>6}")
    print(f"\n{'model':8} {'rows':>10} {'TT ratio':>9} {'IT ratio':>9} {'serve ratio':>11} {'PT/TT':>7} "
          f"{'CT/epoch ratio':>15} {'rows for PT 2%':>15}  targets")
    for model, n, base, lf in rows:
        tt, it, pt = lf["tt"] / base["tt"], lf["it"] / base["it"], lf["pt"] / lf["tt"]
        per_epoch = (lf["ct"] / lf["epochs"]) / (base["ct"] / base["epochs"])
        ok = lambda c: "ok" if c else "MISSED"
        serve = lf["serve"] / base["serve"]
        rows_2pct = n * 49 * lf["pt"] / lf["ct"]  # CT grows with the rows, PT does not
        print(f"{model:8} {n:>10,} {tt:>9.3f} {it:>9.3f} {serve:>11.3f} {pt:>7.1%} {per_epoch:>15.3f} "
              f"{rows_2pct:>15,.0f}  "
              f"TT<=0.65 {ok(tt <= 0.65)}, IT<=0.65 {ok(it <= 0.65)}, PT<=2% {ok(pt <= 0.02)}")


if __name__ == "__main__":
    main()
