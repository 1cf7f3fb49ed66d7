"""The VAE of Esling et al. (2018).

Model
-----
Encoder ``q(z|x)``: ``n_hidden_layers`` fully-connected layers of
``hidden_units`` ReLU units, then two linear heads giving the mean and the
log-variance of a diagonal Gaussian over ``latent_dim`` dimensions (paper:
3 x 2000 units, latent size 64). Decoder ``p(x|z)``: the mirror image.

Likelihood
----------
The input ``x`` is a normalised log-magnitude spectral frame (real-valued, not
bounded), so ``p(x|z)`` is a diagonal Gaussian whose mean is the decoder
output. Its variance is a **learned, per-bin, input-independent** parameter
(``likelihood="learned"``; a homoscedastic Gaussian, log-variance clamped to
``[-7, 3]``), so the balance between the reconstruction term and
``beta * KL`` adapts to the scale of each transform's normalised frames
instead of being fixed by hand; ``likelihood="fixed"`` uses a constant
variance ``exp(fixed_logvar)`` instead (with ``fixed_logvar=0`` the
reconstruction term is ``0.5 * ||x - x_mean||^2`` plus a constant). Every
log-density is in nats, summed over the bins of a frame.

The perceptual regularisers live in :mod:`vts.regularizers`.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
from torch import nn

#: Paper's weight of the KL term once warmed up, and its warm-up length (epochs).
PAPER_BETA = 2.0
PAPER_WARMUP_EPOCHS = 100
#: Bounds of the log-variances (numerical safety; never active in normal training).
ENCODER_LOGVAR_RANGE = (-12.0, 8.0)
DECODER_LOGVAR_RANGE = (-7.0, 3.0)
_LOG_2PI = math.log(2.0 * math.pi)


@dataclass
class ModelConfig:
    """Shape of the VAE (defaults = the paper's).

    Attributes
    ----------
    input_dim : int
        Number of spectral bins of a frame.
    hidden_units : int
        Width of every hidden layer (paper: 2000).
    n_hidden_layers : int
        Hidden layers in the encoder, and in the decoder (paper: 3).
    latent_dim : int
        Size of z (paper: 64).
    likelihood : str
        ``"learned"`` (per-bin learned output variance) or ``"fixed"``.
    fixed_logvar : float
        Output log-variance used when ``likelihood == "fixed"``.
    """

    input_dim: int
    hidden_units: int = 2000
    n_hidden_layers: int = 3
    latent_dim: int = 64
    likelihood: str = "learned"
    fixed_logvar: float = 0.0

    def __post_init__(self):
        if self.input_dim < 1 or self.hidden_units < 1 or self.latent_dim < 1:
            raise ValueError(f"invalid model size: {self}")
        if self.n_hidden_layers < 1:
            raise ValueError(f"n_hidden_layers must be >= 1, got {self.n_hidden_layers}")
        if self.likelihood not in ("learned", "fixed"):
            raise ValueError(f"likelihood must be 'learned' or 'fixed', got {self.likelihood!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> ModelConfig:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


class VAEOutput(NamedTuple):
    """One forward pass: decoder mean, posterior mean / log-variance, sampled z."""

    x_mean: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor
    z: torch.Tensor


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """Fully-connected Gaussian VAE on normalised log-magnitude frames.

    Parameters
    ----------
    config : ModelConfig
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        h, n = config.hidden_units, config.n_hidden_layers
        self.encoder = _mlp([config.input_dim] + [h] * n)
        self.enc_mu = nn.Linear(h, config.latent_dim)
        self.enc_logvar = nn.Linear(h, config.latent_dim)
        self.decoder = _mlp([config.latent_dim] + [h] * n)
        self.dec_mu = nn.Linear(h, config.input_dim)
        init = torch.zeros(config.input_dim)
        if config.likelihood == "learned":
            self.out_logvar = nn.Parameter(init)
        else:
            self.register_buffer("out_logvar", init + config.fixed_logvar)

    # -- the two halves ---------------------------------------------------
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance, each ``(n, latent_dim)``, of frames ``(n, input_dim)``."""
        h = self.encoder(x)
        return self.enc_mu(h), self.enc_logvar(h).clamp(*ENCODER_LOGVAR_RANGE)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Mean of ``p(x|z)``: normalised frames ``(n, input_dim)`` from codes ``(n, latent_dim)``."""
        return self.dec_mu(self.decoder(z))

    def output_logvar(self) -> torch.Tensor:
        """Log-variance ``(input_dim,)`` of the Gaussian likelihood."""
        return self.out_logvar.clamp(*DECODER_LOGVAR_RANGE)

    def forward(self, x: torch.Tensor, eps: torch.Tensor | None = None) -> VAEOutput:
        """Encode, sample ``z = mu + exp(logvar / 2) * eps`` and decode.

        ``eps`` (standard normal, ``(n, latent_dim)``) may be given so that the
        caller controls the random stream; by default it is drawn from torch's
        global generator.
        """
        mu, logvar = self.encode(x)
        if eps is None:
            eps = torch.randn_like(mu)
        z = mu + torch.exp(0.5 * logvar) * eps
        return VAEOutput(self.decode(z), mu, logvar, z)

    # -- densities (nats, summed over dimensions) --------------------------
    def log_likelihood(self, x: torch.Tensor, x_mean: torch.Tensor) -> torch.Tensor:
        """``log p(x|z)`` per frame, shape ``x.shape[:-1]``."""
        logvar = self.output_logvar()
        return -0.5 * (_LOG_2PI + logvar + (x - x_mean) ** 2 * torch.exp(-logvar)).sum(-1)

    @staticmethod
    def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """``KL(q(z|x) || N(0, I))`` per frame, shape ``(n,)``."""
        return 0.5 * (mu ** 2 + torch.exp(logvar) - 1.0 - logvar).sum(-1)

    @torch.no_grad()
    def iwae_log_likelihood(self, x: torch.Tensor, k: int = 100,
                            generator: torch.Generator | None = None,
                            chunk: int = 256) -> torch.Tensor:
        """Importance-sampled estimate of ``log p(x)`` per frame (nats), shape ``(n,)``.

        The IWAE bound ``log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)`` with
        ``z_k ~ q(z|x)``; a lower bound on ``log p(x)`` that tightens with ``k``
        (``k = 1`` is the ELBO in expectation).
        """
        out = []
        for start in range(0, x.shape[0], chunk):
            xb = x[start:start + chunk]
            mu, logvar = self.encode(xb)
            eps = torch.randn((k,) + tuple(mu.shape), generator=generator).to(mu)
            std = torch.exp(0.5 * logvar)
            z = mu + std * eps                                     # (k, n, d)
            log_px = self.log_likelihood(xb.unsqueeze(0), self.decode(z))
            log_pz = -0.5 * (_LOG_2PI + z ** 2).sum(-1)
            log_qz = -0.5 * (_LOG_2PI + logvar + eps ** 2).sum(-1)
            out.append(torch.logsumexp(log_px + log_pz - log_qz, dim=0) - math.log(k))
        return torch.cat(out)


# -- beta warm-up ------------------------------------------------------------
def beta_schedule(epoch: float, beta: float = PAPER_BETA,
                  warmup_epochs: float = PAPER_WARMUP_EPOCHS) -> float:
    """KL weight at (possibly fractional) ``epoch``: linear from 0 to ``beta``.

    Parameters
    ----------
    epoch : float
        Training time in epochs since the start (``epoch + step / steps_per_epoch``).
    beta : float
        Final weight (paper: 2).
    warmup_epochs : float
        Length of the ramp (paper: 100 of 20,000 epochs); ``<= 0`` means no ramp.
    """
    if warmup_epochs <= 0:
        return float(beta)
    return float(beta) * min(1.0, max(0.0, epoch) / warmup_epochs)
