"""The embedded default data set: a Criteo-shaped generator with a planted, known ground truth.

Rows look like raw Criteo (label, ``I1..In`` non-negative integer counts, ``C1..Cm`` 8-hex-digit
hashed categoricals, empty = missing), so the synthetic set goes through exactly the Criteo
preprocessing path (ln^2 bucketing, min-count vocabularies) and can be written as a raw TSV for
benchmarks. Labels come from a known logistic model:

* informative main effects: 3 numeric fields (slope on the latent log-value) and 3 categorical
  fields (an independent N(0, s^2) effect per value), missing contributing 0;
* one interaction pair: two binary fields with uniform values whose contribution is
  ``gamma * (+1 if equal else -1)``: each has *no* main effect, only the pair matters (XOR);
* pure noise: every other field, including some with hundreds of thousands of Zipf values,
  which a model can only memorise.

Choices: ids are Zipf-distributed (exponent ``zipf_a``) over a finite vocabulary; the token of id
``k`` in field ``f`` is a bijective 32-bit mix of ``(f, k)`` so tokens never collide inside a field;
the intercept is solved by bisection on a fixed pilot sample so that the positive rate is about
``positive_rate`` for every row count. Rows are generated in fixed chunks of ``CHUNK_ROWS``, each
from its own seed ``(seed, chunk)``, so a data set of N rows is a prefix of one of M > N rows and
two passes over the data regenerate identical rows.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from lightfmp.data.sources.base import masked_array
from lightfmp.errors import InputError

CHUNK_ROWS = 65_536
DEFAULT_ROWS = 100_000
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_SHIFTS = np.arange(28, -1, -4, dtype=np.uint32)


@dataclass(frozen=True)
class SyntheticConfig:
    """Generator parameters (all recorded in truth.json).

    Args:
        n_numeric: numeric fields ``I1..``; at least 3 (3 are informative).
        n_categorical: categorical fields ``C1..``; at least 5 (3 informative + the pair).
        seed: data seed; the field layout does not depend on it, only values do.
        zipf_a: Zipf exponent of categorical ids.
        positive_rate: target click rate (the intercept is solved for it).
        main_effect: std of per-value effects and size of numeric slopes (logit units).
        interaction: gamma of the XOR pair (logit units).
    """

    n_numeric: int = 13
    n_categorical: int = 26
    seed: int = 2021
    zipf_a: float = 1.1
    positive_rate: float = 0.25
    main_effect: float = 0.8
    interaction: float = 1.2


def _pick(n: int, wanted: list[int], taken: set[int]) -> list[int]:
    """Distinct positions near the wanted ones (next free position, wrapping)."""
    out = []
    for w in wanted:
        p = w % n
        while p in taken:
            p = (p + 1) % n
        taken.add(p)
        out.append(p)
    return out


class SyntheticGenerator:
    """Criteo-shaped rows with planted informative, interaction-only and noise fields (see module doc)."""

    def __init__(self, cfg: SyntheticConfig = SyntheticConfig()):
        if cfg.n_numeric < 3 or cfg.n_categorical < 5:
            raise InputError(
                f"synthetic data needs at least 3 numeric and 5 categorical fields, got "
                f"{cfg.n_numeric} and {cfg.n_categorical}"
            )
        self.cfg = cfg
        nn, nc = cfg.n_numeric, cfg.n_categorical
        self.numeric_names = [f"I{i + 1}" for i in range(nn)]
        self.categorical_names = [f"C{i + 1}" for i in range(nc)]
        # Layout is fixed (seed-independent) so the truth's field names are stable across seeds.
        self.num_informative = _pick(nn, [0, nn // 3, 2 * nn // 3], set())
        taken: set[int] = set()
        self.cat_informative = _pick(nc, [1, nc // 3, 2 * nc // 3], taken)
        self.cat_pair = _pick(nc, [nc // 2 + 2, nc // 2 + 3], taken)
        layout = np.random.default_rng(12345)
        noise = [j for j in range(nc) if j not in taken]
        sizes = np.unique(np.geomspace(10, 300_000, len(noise)).astype(np.int64))
        sizes = np.resize(sizes, len(noise))
        self.vocab = np.zeros(nc, dtype=np.int64)
        self.vocab[noise] = layout.permutation(sizes)
        self.vocab[self.cat_informative] = [20, 500, 5_000]
        self.vocab[self.cat_pair] = 2
        self.cat_missing = np.where(layout.random(nc) < 0.3, layout.uniform(0.05, 0.4, nc), 0.0)
        self.cat_missing[self.cat_informative + self.cat_pair] = 0.0
        self.num_missing = layout.uniform(0.0, 0.45, nn)
        self.num_missing[self.num_informative] = 0.05
        self.num_mu = layout.uniform(0.5, 5.0, nn)
        self.num_sigma = layout.uniform(0.7, 2.0, nn)
        self.salt = layout.integers(1, 2**31, nc, dtype=np.uint64)
        self._cdf = [self._zipf_cdf(int(v)) for v in self.vocab]

        params = np.random.default_rng((cfg.seed, 0x5EED))
        self.num_beta = cfg.main_effect * params.choice([-1.0, 1.0], len(self.num_informative))
        self.cat_effects = [params.normal(0.0, cfg.main_effect, int(self.vocab[j])) for j in self.cat_informative]
        self.intercept = self._solve_intercept()

    # ---- public -----------------------------------------------------------------------
    @property
    def field_names(self) -> list[str]:
        return self.numeric_names + self.categorical_names

    def truth(self) -> dict[str, Any]:
        """The planted ground truth: field roles and every generator parameter."""
        inf = [self.numeric_names[i] for i in self.num_informative] + [
            self.categorical_names[j] for j in self.cat_informative
        ]
        pair = [self.categorical_names[j] for j in self.cat_pair]
        noise = [f for f in self.field_names if f not in inf and f not in pair]
        return {
            "informative": inf,
            "interaction": [pair],
            "noise": noise,
            "generator": {
                **asdict(self.cfg),
                "intercept": self.intercept,
                "numeric_slopes": dict(zip(inf[: len(self.num_beta)], self.num_beta.tolist())),
                "categorical_vocab": dict(zip(self.categorical_names, self.vocab.tolist())),
                "chunk_rows": CHUNK_ROWS,
            },
        }

    def chunks(self, rows: int) -> Iterator[pa.Table]:
        """Raw Criteo-typed tables (label int64, I* int64, C* string; null = missing) totalling ``rows``."""
        for i, start in enumerate(range(0, rows, CHUNK_ROWS)):
            yield self._chunk(i, min(CHUNK_ROWS, rows - start))

    def write_criteo_tsv(self, path: str | Path, rows: int) -> Path:
        """Write ``rows`` raw Criteo rows (TAB-separated, no header, empty = missing), chunk by chunk."""
        path = Path(path)
        opts = pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
        with pa.OSFile(str(path), "wb") as sink:
            writer = None
            for table in self.chunks(rows):
                if writer is None:
                    writer = pacsv.CSVWriter(sink, table.schema, write_options=opts)
                writer.write_table(table)
            if writer is not None:
                writer.close()
        return path

    # ---- internals ----------------------------------------------------------------------
    def _zipf_cdf(self, v: int) -> np.ndarray:
        p = 1.0 / np.arange(1, v + 1, dtype=np.float64) ** self.cfg.zipf_a
        c = np.cumsum(p)
        return c / c[-1]

    def _latent(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
        """Numeric latents u [n, nn], numeric missing mask, categorical ids, categorical missing mask."""
        nn, nc = self.cfg.n_numeric, self.cfg.n_categorical
        u = rng.normal(self.num_mu, self.num_sigma, (n, nn))
        num_miss = rng.random((n, nn)) < self.num_missing
        ids = []
        for j in range(nc):
            if j in self.cat_pair:  # uniform, so that each field alone carries no signal
                ids.append(rng.integers(0, 2, n))
            else:
                ids.append(np.searchsorted(self._cdf[j], rng.random(n), side="right").clip(max=self.vocab[j] - 1))
        cat_miss = rng.random((n, nc)) < self.cat_missing
        return u, num_miss, ids, cat_miss

    def _score(self, u: np.ndarray, num_miss: np.ndarray, ids: list[np.ndarray], cat_miss: np.ndarray) -> np.ndarray:
        s = np.zeros(u.shape[0])
        for beta, i in zip(self.num_beta, self.num_informative):
            z = (u[:, i] - self.num_mu[i]) / self.num_sigma[i]
            s += np.where(num_miss[:, i], 0.0, beta * z)
        for eff, j in zip(self.cat_effects, self.cat_informative):
            s += np.where(cat_miss[:, j], 0.0, eff[ids[j]])
        a, b = (ids[j] * 2 - 1 for j in self.cat_pair)
        return s + self.cfg.interaction * a * b

    def _solve_intercept(self) -> float:
        rng = np.random.default_rng((self.cfg.seed, 0xB1A5))
        s = self._score(*self._latent(rng, 50_000))
        lo, hi = -15.0, 15.0
        for _ in range(60):
            mid = (lo + hi) / 2
            rate = np.mean(1.0 / (1.0 + np.exp(-(mid + s))))
            lo, hi = (mid, hi) if rate < self.cfg.positive_rate else (lo, mid)
        return (lo + hi) / 2

    def _chunk(self, index: int, n: int) -> pa.Table:
        rng = np.random.default_rng((self.cfg.seed, index))
        u, num_miss, ids, cat_miss = self._latent(rng, n)
        logit = self.intercept + self._score(u, num_miss, ids, cat_miss)
        label = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
        cols: dict[str, pa.Array] = {"label": masked_array(label)}
        # Raw counts: floor(exp(u)) - 1 >= 0, like Criteo's integer features.
        x = np.floor(np.exp(np.minimum(u, 40.0))).astype(np.int64) - 1
        for i, name in enumerate(self.numeric_names):
            cols[name] = masked_array(x[:, i], num_miss[:, i])
        for j, name in enumerate(self.categorical_names):
            cols[name] = _hex_tokens(ids[j].astype(np.uint64), self.salt[j], cat_miss[:, j])
        return pa.table(cols)


def _mix32(k: np.ndarray, salt: np.uint64) -> np.ndarray:
    """A bijection on 32-bit ints (xor-shift-multiply), so distinct ids give distinct tokens."""
    h = ((k + salt) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x7FEB352D)
    h ^= h >> np.uint32(15)
    h *= np.uint32(0x846CA68B)
    h ^= h >> np.uint32(16)
    return h


def _hex_tokens(ids: np.ndarray, salt: np.uint64, missing: np.ndarray) -> pa.Array:
    """8-hex-digit strings built straight into an Arrow buffer (no per-row Python)."""
    h = _mix32(ids, salt)
    digits = _HEX[(h[:, None] >> _SHIFTS) & np.uint32(0xF)]
    n = len(ids)
    offsets = np.arange(0, 8 * n + 1, 8, dtype=np.int32)
    validity = np.packbits(~missing, bitorder="little")
    return pa.StringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(digits)), pa.py_buffer(validity),
        null_count=int(missing.sum()),
    )


def write_criteo_tsv(path: str | Path, rows: int, seed: int = 2021, cfg: SyntheticConfig | None = None) -> Path:
    """Write a raw Criteo-format TSV of ``rows`` synthetic rows and its truth beside it (``<path>.truth.json``)."""
    cfg = cfg or SyntheticConfig(seed=seed)
    gen = SyntheticGenerator(cfg)
    out = gen.write_criteo_tsv(path, rows)
    Path(str(out) + ".truth.json").write_text(json.dumps(gen.truth(), indent=1))
    return out
