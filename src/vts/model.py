"""The VAE of Esling et al. (2018) and its perceptual regulariser R(z, T).

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

Perceptual regulariser
----------------------
:func:`perceptual_regularizer` implements

    D^z_ij = exp(-||z_i - z_j||^2 / 2 sigma^2) / sum_{k != i} exp(-||z_i - z_k||^2 / 2 sigma^2)
    D^T_ij = (1 + ||T_i - T_j||^2)^-1 / sum_{k != l} (1 + ||T_k - T_l||^2)^-1
    R      = sum_i sum_{j != i} D^z_ij log(D^z_ij / D^T_ij)

exactly as written in the paper, *between instrument classes*: the ``z_i`` are
the latent centroids of the rated classes present in a batch (mean of the
codes of that class's notes), the ``T_i`` the coordinates of the same classes
in the perceptual target space. Notes whose label is ``''`` (or not in the
target) do not enter R.

Because the latent kernel is normalised per row but the target kernel over all
pairs, ``D^z`` can never equal ``D^T`` and R is never 0 for more than one
class. Its exact minimum over the latent configuration is
:func:`regularizer_floor` ``= -sum_i log s_i`` with ``s_i = sum_j D^T_ij``,
reached exactly when every latent row equals the row-normalised target row
``D^T_ij / s_i`` -- i.e. (with sigma = 1/sqrt 2) when the squared latent
distances are ``log(1 + ||T_i - T_j||^2) + c`` for any constant ``c``. A
perfect fit therefore orders latent distances exactly as the perceptual
ones (Spearman 1). Since every row of ``D^z`` sums to 1,

    R = floor + sum_i KL(D^z_i || D^T_i / s_i)

exactly: the paper's R and the "row-normalised target" variant differ by a
constant (same gradient). ``R - floor`` (the *excess*, 0 when the spaces
agree) is what :mod:`vts.space` also reports; its scale is the one to compare
with the paper's Figure 3 values (e.g. 2.811 for the regularised NSGT space,
below our floor of ~30 for 12 classes, so the paper cannot have reported the
formula's raw value).
"""
from __future__ import annotations

import itertools
import math

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

#: Paper's bandwidth of the latent Gaussian kernel (2 sigma^2 = 1).
SIGMA = 1.0 / math.sqrt(2.0)
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


# -- perceptual regulariser ---------------------------------------------------
def _pairwise_sq(a: torch.Tensor) -> torch.Tensor:
    # Broadcast difference (not cdist): its gradient is defined at distance 0.
    diff = a.unsqueeze(1) - a.unsqueeze(0)
    return (diff ** 2).sum(-1)


def latent_kernel(z: torch.Tensor, sigma: float = SIGMA, log: bool = False) -> torch.Tensor:
    """``D^z`` ``(m, m)``: row-normalised Gaussian kernel of points ``z (m, d)``, self excluded.

    The diagonal is 0 (``-inf`` with ``log=True``).
    """
    m = z.shape[0]
    logits = -_pairwise_sq(z) / (2.0 * sigma ** 2)
    eye = torch.eye(m, dtype=torch.bool, device=z.device)
    logd = torch.log_softmax(logits.masked_fill(eye, float("-inf")), dim=1)
    return logd if log else torch.exp(logd)


def target_kernel(t: torch.Tensor, log: bool = False) -> torch.Tensor:
    """``D^T`` ``(m, m)``: Student-t kernel of points ``t (m, k)``, normalised over all pairs k != l.

    The diagonal is 0 (``-inf`` with ``log=True``).
    """
    m = t.shape[0]
    eye = torch.eye(m, dtype=torch.bool, device=t.device)
    kern = (1.0 / (1.0 + _pairwise_sq(t))).masked_fill(eye, 0.0)
    d = kern / kern.sum()
    return torch.log(d).masked_fill(eye, float("-inf")) if log else d


def regularizer_from_points(z: torch.Tensor, t: torch.Tensor, sigma: float = SIGMA) -> torch.Tensor:
    """R between matched point sets: ``z (m, d)`` latent, ``t (m, k)`` target (scalar tensor)."""
    if z.shape[0] != t.shape[0]:
        raise ValueError(f"{z.shape[0]} latent points but {t.shape[0]} target points")
    if z.shape[0] < 2:
        return z.sum() * 0.0
    t = t.to(z)
    eye = torch.eye(z.shape[0], dtype=torch.bool, device=z.device)
    # The diagonal (-inf logs) is replaced by 0 *before* the product, so that
    # no 0 * inf enters the graph and the gradient stays finite.
    log_dz = latent_kernel(z, sigma, log=True).masked_fill(eye, 0.0)
    log_dt = target_kernel(t, log=True).masked_fill(eye, 0.0)
    terms = torch.exp(log_dz).masked_fill(eye, 0.0) * (log_dz - log_dt)
    return terms.sum()


def regularizer_floor(t: torch.Tensor | np.ndarray) -> float:
    """Smallest value R can take for target points ``t (m, k)``: ``-sum_i log sum_j D^T_ij``."""
    t = torch.tensor(np.array(t, dtype=np.float64))
    if t.shape[0] < 2:
        return 0.0
    return float(-torch.log(target_kernel(t).sum(1)).sum())


def _target_table(target) -> tuple[list[str], np.ndarray]:
    """(names, coordinates (m, k)) of a DataFrame indexed by class name or a name->coords mapping."""
    if hasattr(target, "index") and hasattr(target, "to_numpy"):
        return [str(i) for i in target.index], np.asarray(target.to_numpy(), dtype=np.float64)
    names = list(target)
    return [str(n) for n in names], np.stack([np.asarray(target[n], dtype=np.float64) for n in names])


def class_centroids(z: torch.Tensor, labels: Sequence[str], classes: Sequence[str]) -> torch.Tensor:
    """Mean code of each class in ``classes`` (each must occur in ``labels``): ``(len(classes), d)``."""
    labels = np.asarray(labels, dtype=object)
    member = np.stack([labels == c for c in classes]).astype(np.float32)   # (m, n)
    counts = member.sum(1, keepdims=True)
    if (counts == 0).any():
        missing = [c for c, n in zip(classes, counts[:, 0]) if n == 0]
        raise ValueError(f"no sample of class(es) {missing}")
    weights = torch.as_tensor(member / counts, dtype=z.dtype, device=z.device)
    return weights @ z


def perceptual_regularizer(z: torch.Tensor, labels: Sequence[str], target,
                           sigma: float = SIGMA) -> torch.Tensor:
    """The paper's t-SNE-like regulariser R(z, T) between instrument classes.

    Parameters
    ----------
    z : torch.Tensor, shape (n, latent_dim)
        Codes of a batch of notes (the trainer passes posterior means).
    labels : sequence of str, length n
        Perceptual class of each note; ``''`` or a name absent from ``target``
        means "no rating": the note is ignored.
    target : pandas.DataFrame or mapping
        Perceptual target space T, indexed by class name (rows = classes,
        columns = coordinates), e.g. :func:`vts.perception.timbre_space`.
    sigma : float
        Bandwidth of the latent Gaussian kernel (paper: 1/sqrt 2).

    Returns
    -------
    torch.Tensor
        Scalar R (nats), differentiable w.r.t. ``z``. The classes entering R
        are those of the target present in the batch, in the target's order:
        ``z_i`` = centroid of class i's codes in the batch, ``T_i`` its target
        coordinates. With fewer than two such classes R is 0 (no gradient).
        See the module docstring for the kernels and R's minimum.
    """
    names, coords = _target_table(target)
    if len(labels) != z.shape[0]:
        raise ValueError(f"{len(labels)} labels for {z.shape[0]} codes")
    present = {str(label) for label in labels}
    keep = [i for i, n in enumerate(names) if n and n in present]
    if len(keep) < 2:
        return z.sum() * 0.0
    classes = [names[i] for i in keep]
    centroids = class_centroids(z, labels, classes)
    t = torch.as_tensor(coords[keep], dtype=z.dtype, device=z.device)
    return regularizer_from_points(centroids, t, sigma)
