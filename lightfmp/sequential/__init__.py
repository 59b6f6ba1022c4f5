"""Next-item recommendation with a LLaMA-style transformer, and PruneRec's structured pruning of it.

- `data`: `SequenceData` (``task = "next-item"``), loaders for Amazon Games (DEALRec split) and ML-100K.
- `transformer`: `TransformerConfig`, `NextItemTransformer` (``score_next(seqs) -> [B, num_items]``).
- `train`: `fit_next_item` (CE, or PruneRec's 0.2 CE + 0.8 KL distillation), `evaluate_next_item`.
- `prunerec`: the three stages, their surgery and the controls; `latency`: per-user scoring time.
"""
from lightfmp.sequential.data import SequenceData, load_amazon_games, load_movielens, load_sequences
from lightfmp.sequential.train import FitConfig, FitResult, evaluate_next_item, fit_next_item
from lightfmp.sequential.transformer import NextItemTransformer, TransformerConfig, non_embedding_params

__all__ = ["FitConfig", "FitResult", "NextItemTransformer", "SequenceData", "TransformerConfig", "evaluate_next_item",
           "fit_next_item", "load_amazon_games", "load_movielens", "load_sequences", "non_embedding_params"]
