"""Backbone hyper-parameters: one frozen dataclass, JSON-able, defaults from the paper (section 3.4)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from lightfmp.errors import InputError
from lightfmp.knobs import knob


def parse_hidden(text: str) -> tuple[int, ...]:
    """'400,400,200' -> (400, 400, 200); at least one layer."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        raise InputError(f"--hidden: expected comma-separated positive integers, got {text!r}") from None
    if not sizes or any(s < 1 for s in sizes):
        raise InputError(f"--hidden: expected positive layer sizes, got {text!r}")
    return sizes


def parse_embed_init(text: str) -> float | None:
    """'1e-4' -> 1e-4 (the std of a normal init); 'xavier' -> None (Xavier-uniform)."""
    if text.strip().lower() == "xavier":
        return None
    try:
        std = float(text)
    except ValueError:
        std = float("nan")
    if not std > 0.0 or std == float("inf"):
        raise InputError(f"--embed-init: expected a positive std (e.g. 1e-4) or 'xavier', got {text!r}")
    return std


@dataclass(frozen=True)
class ModelConfig:
    """Sizes shared by the six backbones; each field's default and help stand beside it (`lightfmp.knobs`).

    Defaults follow paper section 3.4: D = 10 (Criteo/Avazu; the paper uses 64 for MovieLens),
    MLP 400-400-200; CIN 100-100-100 is xDeepFM's own Criteo setting; ``cin_split_half`` off follows the
    paper's eq. 6; DCN's 3 cross layers are a middle value of Wang et al.'s 1-6, not tuned. Embeddings
    start N(0, 1e-4^2), as DeepCTR-Torch and FuxiCTR (None: Xavier-uniform over the table, as the OptFS
    code). Evidence: docs/decisions.md#embedding-initialisation and #backbone-sizes; re-measure:
    `python bench/accuracy.py`.
    """

    embed_dim: int = knob(10, "Embedding dimension per field (the paper uses 64 on MovieLens).", flag="--embed-dim",
                          min=1)
    hidden: tuple[int, ...] = knob((400, 400, 200), "MLP hidden sizes, comma-separated.", flag="--hidden",
                                   parse=parse_hidden, show="400,400,200")
    dropout: float = knob(0.0, "Dropout after each hidden layer.", flag="--dropout", min=0.0, max=1.0, max_open=True)
    batch_norm: bool = knob(False, "BatchNorm after each hidden Linear.")
    cin_layers: tuple[int, ...] = knob((100, 100, 100), "xDeepFM's CIN feature maps per layer.", parse=parse_hidden)
    cin_split_half: bool = knob(False, "xDeepFM: half of each CIN layer's maps go to the output (off: eq. 6).")
    embed_init_std: float | None = knob(1e-4, "Embedding init: the std of N(0, std^2), or 'xavier' (Xavier-uniform "
                                        "over the table, as the OptFS code).", flag="--embed-init",
                                        parse=parse_embed_init, show="1e-4")
    cross_layers: int = knob(3, "DCN's cross layers.")

    def __post_init__(self) -> None:
        # Lists (from JSON) become tuples so the config stays hashable and comparable.
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "cin_layers", tuple(int(h) for h in self.cin_layers))
        if int(self.embed_dim) < 1:
            raise ValueError(f"embed_dim must be >= 1, got {self.embed_dim}")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden must hold at least one positive width, got {self.hidden}")
        if not self.cin_layers or min(self.cin_layers) < 1:
            raise ValueError(f"cin_layers must hold at least one positive width, got {self.cin_layers}")
        if int(self.cross_layers) < 0:
            raise ValueError(f"cross_layers must be >= 0, got {self.cross_layers}")
        object.__setattr__(self, "cross_layers", int(self.cross_layers))
        if self.embed_init_std is not None and not float(self.embed_init_std) > 0.0:
            raise ValueError(f"embed_init_std must be > 0 (or None for Xavier), got {self.embed_init_std}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"], d["cin_layers"] = list(self.hidden), list(self.cin_layers)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig keys {unknown}; known keys are {sorted(known)}")
        return cls(**d)
