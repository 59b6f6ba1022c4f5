"""Torch layers: field embeddings and the interaction layers. Constructors take ints, never a schema."""
from lightfmp.nn.embedding import FieldEmbedding, FieldLinear, FieldTable
from lightfmp.nn.layers import CIN, MLP, FactorizationMachine, InnerProduct, pair_index

__all__ = [
    "CIN",
    "MLP",
    "FactorizationMachine",
    "FieldEmbedding",
    "FieldLinear",
    "FieldTable",
    "InnerProduct",
    "pair_index",
]
