"""PruneRec (Zheng et al., arXiv 2507.07064; zheng-sl/PruneRec) on `NextItemTransformer`: scores
(`scores`), physical surgery (`surgery`), the three stages with restoration and the controls (`stages`)."""
from lightfmp.sequential.prunerec.scores import (channel_frequency, greedy_layer_removal, head_scores,
                                                 hidden_dim_scores)
from lightfmp.sequential.prunerec.stages import PruneRecConfig, StageResult, depth_only, run_stages
from lightfmp.sequential.prunerec.surgery import Cut, cut_model, mask_model

__all__ = ["Cut", "PruneRecConfig", "StageResult", "channel_frequency", "cut_model", "depth_only",
           "greedy_layer_removal", "head_scores", "hidden_dim_scores", "mask_model", "run_stages"]
