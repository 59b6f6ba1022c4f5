"""MultVAE (Liang, Krishnan, Hoffman, Jebara, "Variational Autoencoders for Collaborative Filtering",
WWW 2018), as their code and DSL's ``MultVAE/``.

- Input: a user's binary item row x, L2-normalised, dropout 0.5 on the input (training only).
- Encoder q_dims = [I, 600, 200]: tanh between layers, the last layer gives mu and log sigma^2 (2 x 200).
- Decoder p_dims = [200, 600, I]: tanh between layers, logits over every item.
- Loss (eq. 3, the annealed ELBO): -mean_u sum_i x_ui log softmax(logits)_ui + beta * KL(q(z|x) || N(0, I)),
  beta = min(anneal_cap, step / total_anneal_steps) (cap 0.2, 200,000 steps: their defaults).
- Prediction: the decoder at z = mu (no sampling, no dropout).
- Init: Xavier-normal weights, N(0, 0.001^2) biases (their PyTorch code).
- Choice: the rows a user is scored from are the model's ``history`` buffer (the training interactions
  given at construction: under strong generalisation the held-out users' fold-in items), so
  ``score_users(users)`` has the same contract as LightGCN's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from lightfmp.tasks.ranking import UserItems


@dataclass(frozen=True)
class MultVAEConfig:
    """The paper's defaults (Adam lr 1e-3, batch 500 users, 200 epochs in `lightfmp.topk.config.MULTVAE_FIT`)."""

    hidden: int = 600
    latent: int = 200
    dropout: float = 0.5
    anneal_cap: float = 0.2
    total_anneal_steps: int = 200_000


def dense_rows(history: UserItems, users: np.ndarray, num_items: int, device: str | torch.device = "cpu") -> Tensor:
    """float32 [B, I] binary rows of ``users`` from a CSR history."""
    r, c = history.pairs(users)
    x = torch.zeros(len(users), num_items, device=device)
    x[torch.from_numpy(r).to(device), torch.from_numpy(c).to(device)] = 1.0
    return x


class MultVAE(nn.Module):
    """Multinomial variational autoencoder over item rows.

    Args:
        history: the interactions a user is scored from (``score_users``).
        num_items: the item-id space size.
        cfg: layer sizes, dropout, KL annealing.

    Shape: ``forward(x [B, I]) -> (logits [B, I], mu [B, L], logvar [B, L])``;
    ``score_users(users [B]) -> [B, I]``.

    Example: ``MultVAE(data.train, data.num_items).score_users(torch.arange(4))``.
    """

    def __init__(self, history: UserItems, num_items: int, cfg: MultVAEConfig = MultVAEConfig()) -> None:
        super().__init__()
        self.cfg, self.num_items, self.history = cfg, int(num_items), history
        self.encoder = nn.ModuleList([nn.Linear(num_items, cfg.hidden), nn.Linear(cfg.hidden, 2 * cfg.latent)])
        self.decoder = nn.ModuleList([nn.Linear(cfg.latent, cfg.hidden), nn.Linear(cfg.hidden, num_items)])
        self.drop = nn.Dropout(cfg.dropout)
        for layer in [*self.encoder, *self.decoder]:
            nn.init.xavier_normal_(layer.weight)
            nn.init.normal_(layer.bias, std=0.001)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        h = self.drop(nn.functional.normalize(x, dim=1))
        h = torch.tanh(self.encoder[0](h))
        mu, logvar = self.encoder[1](h).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        return self.decoder[1](torch.tanh(self.decoder[0](z))), mu, logvar

    def beta(self, step: int) -> float:
        return min(self.cfg.anneal_cap, step / self.cfg.total_anneal_steps)

    def elbo_loss(self, x: Tensor, step: int) -> Tensor:
        """The annealed negative ELBO of a batch of rows after ``step`` updates."""
        logits, mu, logvar = self(x)
        nll = -(nn.functional.log_softmax(logits, dim=1) * x).sum(1).mean()
        kl = -0.5 * (1 + logvar - mu.square() - logvar.exp()).sum(1).mean()
        return nll + self.beta(step) * kl

    def rows(self, users: Tensor) -> Tensor:
        return dense_rows(self.history, users.cpu().numpy(), self.num_items, users.device)

    def score_users(self, users: Tensor) -> Tensor:
        return self(self.rows(users))[0]
