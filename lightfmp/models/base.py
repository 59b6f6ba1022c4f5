"""The backbone interface: ids in, logits out, one embedding table, and a gate slot."""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

import torch
from torch import Tensor, nn

from lightfmp.models.config import ModelConfig
from lightfmp.nn.embedding import FieldEmbedding, FieldTable


class CTRModel(nn.Module):
    """Base of the five backbones (paper section 2.2: embedding layer, then interaction/DNN module).

    ``forward(x)`` maps local ids int[B, F] to logits float[B] (no sigmoid: the loss is
    BCE-with-logits). Subclasses build their layers from ``(vocab_sizes, cfg)`` only, so
    ``build_args()`` is enough to rebuild one.

    The gate slot (paper eq. 2, ``e' = e o z``): when ``self.gate`` is a module, ``z = gate(x, e)``
    (z float[F] for field gates, or float[B, F] for per-sample / per-value gates) multiplies every
    per-field representation: the embeddings (via ``embed``) and the per-field linear terms (via
    ``gate_terms``). Everything downstream sees only gated fields, so z_f = 0 removes field f from
    the output exactly, which is what lets ``lightfmp.pruning.slicing.prune_fields`` cut it out.

    Attributes:
        vocab_sizes: rows per field.
        cfg: the ModelConfig.
        embedding: FieldEmbedding over all fields.
        gate: None, or a module called as ``gate(x, e)``.
    """

    name: ClassVar[str] = ""

    def __init__(self, vocab_sizes: Sequence[int], cfg: ModelConfig = ModelConfig()):
        super().__init__()
        self.vocab_sizes = [int(v) for v in vocab_sizes]
        self.cfg = cfg
        self.embedding = FieldEmbedding(self.vocab_sizes, cfg.embed_dim, cfg.embed_init_std)
        self.gate: nn.Module | None = None

    @property
    def num_fields(self) -> int:
        return len(self.vocab_sizes)

    @property
    def embed_dim(self) -> int:
        return self.cfg.embed_dim

    def embed(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """Field embeddings [B, F, D], gated when a gate is set, and the gate values z (or None)."""
        e = self.embedding(x)
        if self.gate is None:
            return e, None
        z = self.gate(x, e)
        return e * z.unsqueeze(-1), z

    @staticmethod
    def gate_terms(terms: Tensor, z: Tensor | None) -> Tensor:
        """Apply the gate values z ([F] or [B, F]) to per-field terms [B, F] (linear / wide part)."""
        return terms if z is None else terms * z

    def deep_input_columns(self, keep: Sequence[int]) -> Tensor:
        """Columns of the MLP input that belong to the kept fields, in the compact model's order.

        Default layout: the flattened embeddings, field f at columns [f*D, (f+1)*D). Backbones
        whose MLP reads more (PNN's inner products) override this.
        """
        D = self.embed_dim
        k = torch.as_tensor(list(keep), dtype=torch.long)
        return (k.unsqueeze(1) * D + torch.arange(D)).reshape(-1)

    def field_tables(self) -> list[FieldTable]:
        """Every per-field table of the backbone (embedding, and linear if it has one): the L2 targets.

        Tables inside the gate (a per-value gate may hold one) are not the backbone's and are left out.
        """
        return [m for n, m in self.named_modules() if isinstance(m, FieldTable) and n.split(".")[0] != "gate"]

    def build_args(self) -> dict[str, Any]:
        """JSON-able ``{"name", "vocab_sizes", "cfg"}``; ``lightfmp.models.from_build_args`` inverts it."""
        return {"name": self.name, "vocab_sizes": list(self.vocab_sizes), "cfg": self.cfg.to_dict()}

    def forward(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError
