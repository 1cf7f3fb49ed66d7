"""The profiles: every size of a run, training and figures together, in one table.

A profile names a :class:`TrainConfig` (what the models are and how long they
train) and a :class:`FigureSettings` (how much the notebooks compute from them).
``smoke`` runs in seconds (tests), ``default`` is sized for a 2-core CPU, and
``paper`` is the paper's setting (a GPU job).
"""
from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass

from . import config as cfg
from .model import PAPER_BETA, PAPER_WARMUP_EPOCHS, ModelConfig
from .regularizers import SIGMA, RegularizerSpec

#: The paper's optimiser settings and stage lengths.
PAPER_LR = 1e-4
PAPER_ALPHA = 0.1
PAPER_EPOCHS_PER_STAGE = 10_000
#: Importance samples of the test log-likelihood estimate.
IWAE_SAMPLES = 100
#: TrainConfig fields that do not change the trained weights.
_NON_RESULT_FIELDS = ("device", "num_threads", "checkpoint_every", "iwae_samples", "profile")


@dataclass
class TrainConfig:
    """Everything that defines a training run (model size included).

    Attributes
    ----------
    profile : str
        Name of the profile this config came from (informational).
    hidden_units, n_hidden_layers, latent_dim : int
        VAE size (see :class:`vts.model.ModelConfig`).
    likelihood : str
        ``"learned"`` or ``"fixed"`` output variance.
    stage1_epochs, stage2_epochs : int
        Epochs with alpha = 0, then with alpha = ``alpha`` (regularised model).
    batch_size : int
        Frames per step.
    lr : float
        Adam learning rate.
    beta : float
        Final KL weight; ``warmup_epochs``: epochs of its linear ramp from 0.
    alpha : float
        Weight of R in stage 2 of a regularised model.
    sigma : float
        Latent-kernel bandwidth of R.
    reg_notes_per_class : int
        Notes per rated class in the regulariser batch (0: use the minibatch);
        per rated class *and pitch band* when ``reg_band_semitones > 0``. For
        ``l2`` / ``gaussian`` / ``student``, ``> 0`` computes R on a draw of
        that many notes of every rated instrument each step (all notes of a
        rarer one), encoded for R alone, so that every instrument pair enters
        every step; not used by ``prior`` (0 there).
    reg_band_semitones : int
        0 (paper): R on the class centroids over all pitches. ``> 0``: the
        training notes are grouped into pitch bands this many semitones wide
        (MIDI ``pitch // reg_band_semitones``), R is computed in every band on
        the centroids of the classes playing in it as well as over all
        pitches, and the mean over these groups is used: the target layout
        must then hold *at each pitch*, not only for centroids averaged over
        the instruments' ranges (measured without the all-pitch group, the
        bands' layouts drift apart: Spearman of the all-pitch centroids
        0.47-0.54 instead of 0.84-0.87).
    reg_kind : str
        Which regulariser stage 2 adds (:data:`vts.regularizers.KINDS`):
        ``"class"`` / ``"banded"`` the paper's R between class centroids;
        ``"l2"``, ``"gaussian"``, ``"student"`` the released code's terms on
        every pair of notes of a minibatch (sampled codes); ``"prior"`` a
        class-conditional prior in the KL instead of N(0, I).
    reg_dims, reg_n_dims : str, int
        Latent dimensions the note-level kinds regularise
        (:func:`vts.regularizers.select_dims`: ``"all"``, ``"first"`` k, or the
        k of ``"lowest"`` / ``"highest"`` spread at the end of stage 1).
    reg_scale : float
        Multiplier of the normalised note-level targets; 0 applies the rule of
        :func:`vts.regularizers.target_scale_for` (sqrt of twice the number of
        regularised dimensions).
    reg_within : str
        Pairs of notes of one instrument in ``l2`` / ``gaussian``: target 0
        (``"zero"``, released code) or left out (``"free"``; listeners rated
        no such pair), :data:`vts.regularizers.WITHIN`.
    test_fraction : float
        Share of each instrument's notes held out as test set.
    seed : int
    checkpoint_every : int
        Epochs between checkpoints (one is also written at a stop and at the
        end of stage 1).
    iwae_samples : int
        K of the test log-likelihood estimate.
    target_components : int
        Dimensions of the perceptual MDS target space T.
    target_scale : float
        Factor applied to T's coordinates before training (1 = T as given).
        The paper does not state T's scale; at the scale of an MDS of 0..1
        ratings the Student-t target kernel is nearly flat (see the
        ``default`` profile notes), so R then carries little ordering.
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
    num_threads : int or None
        Torch CPU threads (None: the cores this process may use).
    """

    profile: str = "custom"
    hidden_units: int = 2000
    n_hidden_layers: int = 3
    latent_dim: int = 64
    likelihood: str = "learned"
    stage1_epochs: int = PAPER_EPOCHS_PER_STAGE
    stage2_epochs: int = PAPER_EPOCHS_PER_STAGE
    batch_size: int = 128
    lr: float = PAPER_LR
    beta: float = PAPER_BETA
    warmup_epochs: float = PAPER_WARMUP_EPOCHS
    alpha: float = PAPER_ALPHA
    sigma: float = SIGMA
    reg_notes_per_class: int = 0
    reg_band_semitones: int = 0
    reg_kind: str = "class"
    reg_dims: str = "all"
    reg_n_dims: int = 0
    reg_scale: float = 0.0
    reg_within: str = "zero"
    test_fraction: float = 0.1
    seed: int = cfg.DEFAULT_SEED
    checkpoint_every: int = 100
    iwae_samples: int = IWAE_SAMPLES
    target_components: int = 3
    target_scale: float = 1.0
    device: str = "auto"
    num_threads: int | None = None

    def __post_init__(self):
        if self.stage1_epochs < 0 or self.stage2_epochs < 0 or self.total_epochs < 1:
            raise ValueError(f"need at least one epoch: {self.stage1_epochs} + {self.stage2_epochs}")
        if self.batch_size < 1 or self.lr <= 0 or not 0 < self.test_fraction < 1:
            raise ValueError(f"invalid batch_size / lr / test_fraction in {self}")
        if self.alpha < 0 or self.beta < 0 or self.sigma <= 0 or self.target_scale <= 0:
            raise ValueError(f"alpha, beta must be >= 0 and sigma > 0 in {self}")
        if self.reg_band_semitones < 0 or (self.reg_band_semitones and
                                           self.reg_notes_per_class <= 0):
            raise ValueError("reg_band_semitones must be >= 0 and needs reg_notes_per_class > 0, "
                             f"got {self.reg_band_semitones} and {self.reg_notes_per_class}")
        if self.reg_kind == "prior" and self.reg_notes_per_class:
            raise ValueError("reg_kind 'prior' has no regulariser batch: set "
                             f"reg_notes_per_class = 0, got {self.reg_notes_per_class}")
        self.regularizer   # validates kind, dims, scale and within

    @property
    def total_epochs(self) -> int:
        return self.stage1_epochs + self.stage2_epochs

    def model_config(self, input_dim: int) -> ModelConfig:
        return ModelConfig(input_dim=input_dim, hidden_units=self.hidden_units,
                           n_hidden_layers=self.n_hidden_layers, latent_dim=self.latent_dim,
                           likelihood=self.likelihood)

    def alpha_at(self, epoch: int, regularized: bool) -> float:
        """Weight of R during (0-based) ``epoch``."""
        return self.alpha if regularized and epoch >= self.stage1_epochs else 0.0

    @property
    def regularizer(self) -> RegularizerSpec:
        """The regulariser of stage 2 as a :class:`vts.regularizers.RegularizerSpec`."""
        return RegularizerSpec(self.reg_kind, self.reg_dims, self.reg_n_dims,
                               self.reg_scale or None, self.reg_within)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def result_fields(self) -> dict:
        """The fields that determine the trained weights (for resume / skip checks)."""
        return {k: v for k, v in self.to_dict().items() if k not in _NON_RESULT_FIELDS}


@dataclass(frozen=True)
class FigureSettings:
    """Sizes of everything the notebooks compute, per profile.

    Attributes
    ----------
    transforms : tuple of str
        Transforms whose vanilla and regularised spaces are trained and compared.
    transform : str
        Transform of the deep-dive notebooks (06-09).
    grid_size : int
        Points per side of each descriptor plane (the paper: 50).
    planes : tuple of float
        Plane positions along each PCA axis (scaled units; the paper's six).
    traversal_positions : int
        Frames of each descriptor traversal animation / slider.
    path_points : int
        Points of the decoded-spectra figure of a path (the paper: 8).
    path_steps : int
        Points of each path in the animations, the HTML and the distance table.
    path_seconds : float
        Duration (s) of each path sound.
    roundtrip_seconds : float
        Excerpt (s) of the note sent through each transform.
    griffin_lim_iters : int
        Phase-retrieval iterations of every sound.
    novel_notes : int
        Notes per novel instrument encoded (evenly spread over its notes).
    background_points : int
        Corpus codes drawn behind paths / in latent scatter plots (subsampled).
    reconstructions : int
        Test frames shown per space.
    synthesis_steps, synthesis_candidates : int
        Steps and candidates per step of Algorithm 1.
    synthesis_radius : float
        Largest step (latent units) of Algorithm 1.
    synthesis_seconds : float
        Duration (s) of each descriptor-synthesis sound.
    permutations : int
        Mantel permutations of the perceptual evaluation.
    fps : float
        Frames per second of the animations.
    """

    transforms: tuple[str, ...] = cfg.TRANSFORMS
    transform: str = cfg.DEFAULT_TRANSFORM
    grid_size: int = cfg.GRID_SIZE
    planes: tuple[float, ...] = cfg.PLANE_POSITIONS
    traversal_positions: int = 10
    path_points: int = 8
    path_steps: int = 16
    path_seconds: float = 2.0
    roundtrip_seconds: float = 1.5
    griffin_lim_iters: int = 32
    novel_notes: int = 24
    background_points: int = 1500
    reconstructions: int = 6
    synthesis_steps: int = 24
    synthesis_candidates: int = 64
    synthesis_radius: float = 0.5
    synthesis_seconds: float = 2.0
    permutations: int = 999
    fps: float = 4.0



@dataclass(frozen=True)
class Profile:
    """One row of :data:`PROFILES`.

    Attributes
    ----------
    train : TrainConfig
        The training run (model size, schedule, the class-centroid R's settings).
    figures : FigureSettings
        How much the notebooks compute.
    kinds : dict
        The regularised spaces trained beside each vanilla space: kind name ->
        the :class:`TrainConfig` fields it changes. ``make train`` trains every
        kind for :data:`vts.config.DEFAULT_TRANSFORM` and the ``showcase`` kind
        for the other transforms.
    showcase : str
        The kind the notebooks, the explorer and the page show (the companion
        page's sounds come from the authors' ``l2`` model).
    """

    train: TrainConfig
    figures: FigureSettings
    kinds: dict = dataclasses.field(default_factory=dict)
    showcase: str = "l2"

    def config(self, kind: str = "vanilla") -> TrainConfig:
        """The :class:`TrainConfig` of one kind of space (``"vanilla"``: the profile's own)."""
        if kind == "vanilla":
            return self.train
        if kind not in self.kinds:
            raise KeyError(f"unknown kind {kind!r}; this profile trains "
                           f"{', '.join(['vanilla', *self.kinds])}")
        return dataclasses.replace(self.train, **self.kinds[kind])


#: Training profiles.
#:
#: ``default`` -- sized and tuned on the project's 2-core CPU (nsgt-erb, 6,522
#: notes, 168 bins: both twins in ~2 min wall, ~55 s of training for the
#: vanilla model and ~65 s more for the regularised one, which starts from the
#: vanilla stage 1). Choices, each measured on the real corpus:
#:
#: * 2 x 512 units (paper 3 x 2000: 21x the parameters, ~10x slower per sample
#:   here), latent 64 as in the paper; 30 + 50 epochs of batches of 128;
#:   Adam lr 1e-3 (10x the paper's, for ~250x fewer epochs); beta warm-up over
#:   5 epochs (the paper's 100 / 20,000 would be a fraction of one epoch).
#: * ``target_components = 5``: the 3-D MDS of the combined ratings keeps their
#:   rank order only to Spearman 0.878 (5-D: 0.963), which caps what any
#:   latent space fitted to a 3-D T can reach.
#: * ``target_scale = 5``: at the raw scale of an MDS of 0..1 ratings the
#:   Student-t kernel of R is nearly flat -- placing the 12 centroids
#:   equidistant is within 0.06 nats of R's minimum -- so R hardly orders
#:   them (Spearman ~0.2 at any alpha tried); x5 gives it contrast.
#: * ``reg_notes_per_class = 128``, ``alpha = 25``: within a class, pitch and
#:   dynamics spread the codes ~3x more than the spacing of the class
#:   centroids, so centroids of a few notes are noisy and bias the distances R
#:   fits. Measured on NSGT-ERB with the held-out instruments out of
#:   training (Spearman of the space's centroids / test MSE over the vanilla
#:   twin): 48 notes, alpha 30: 0.854 / +11.5 %; 64, 30: 0.889 / +9.9 %;
#:   64, 15: 0.872 / +7.0 %; 96, 30: 0.907 / +8.2 %; 128, 25: 0.935 / +7.2 %.
#:   alpha 100 cost +20 % test MSE.
#: * ``l2`` on a class-balanced draw of :data:`BALANCED_NOTES_PER_CLASS` notes
#:   per rated instrument each step, not on the minibatch: the corpus holds 11
#:   trumpet and 15 violin notes among 4,656 rated ones, so a random minibatch
#:   holds a trumpet note in about one step of four and the 21 instrument pairs
#:   with either are hardly fitted. The choice was made by a rule set before
#:   the runs (README, "Regularisers"; ``make regularizers``, ``make seeds``).
#:
#: ``paper`` -- the paper's settings (a GPU job); R on the class centroids of
#: each random minibatch (``reg_notes_per_class = 0``), T as given (3-D, scale 1).
#: The paper does not give a batch size; 128 is used.
#:
#: ``smoke`` -- a tiny network for a few epochs (seconds; tests, notebook tests).
def _kinds(banded_notes: int, prior_dims: int, alpha: float = 1.0) -> dict:
    """The regularised kinds of a profile (see :class:`Profile`).

    ``class``: the paper's R as the profile sets it. ``banded``: R also within
    every octave, on ``banded_notes`` notes per class and band. ``l2``,
    ``gaussian``, ``student``: the released code's note-level terms with its
    defaults, weight ``alpha`` = 1 on every latent dimension, pairs of notes
    of one instrument at target 0, R on the minibatch, except that ``l2``
    takes R on a class-balanced draw (:data:`BALANCED_NOTES_PER_CLASS`; see
    the ``default`` notes). The other choices, e.g. the first few dimensions
    only or ``reg_within = "free"``, are measured by ``make regularizers``
    (README, "The trade-off").
    ``prior``: class-conditional priors at the
    instruments' MDS positions on the first ``prior_dims`` dimensions (= the
    target's dimensions; alpha only switches stage 2 on).
    """
    note = {"alpha": alpha, "reg_dims": "all", "reg_n_dims": 0, "reg_notes_per_class": 0}
    return {
        "class": {},
        "banded": {"reg_band_semitones": BAND_SEMITONES, "reg_notes_per_class": banded_notes},
        "l2": {"reg_kind": "l2", **note, "reg_notes_per_class": BALANCED_NOTES_PER_CLASS},
        "gaussian": {"reg_kind": "gaussian", **note},
        "student": {"reg_kind": "student", **note},
        "prior": {"reg_kind": "prior", "alpha": 1.0, "reg_dims": "first",
                  "reg_n_dims": prior_dims, "reg_notes_per_class": 0},
    }


#: Width of the pitch bands of a banded space (semitones).
BAND_SEMITONES = 12
#: Notes per rated instrument of the ``l2`` kind's class-balanced draw: a
#: minibatch of 128 notes spread over the 12 rated instruments.
BALANCED_NOTES_PER_CLASS = 11

PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        TrainConfig(profile="smoke", hidden_units=32, n_hidden_layers=2, latent_dim=8,
                    stage1_epochs=3, stage2_epochs=3, batch_size=64, lr=1e-3,
                    warmup_epochs=1, alpha=1.0, reg_notes_per_class=4, target_scale=5.0,
                    checkpoint_every=1, iwae_samples=8),
        FigureSettings(transforms=("nsgt-erb", "stft"), grid_size=8,
                       traversal_positions=3, path_points=4, path_steps=5,
                       path_seconds=0.4, roundtrip_seconds=0.4, griffin_lim_iters=4,
                       novel_notes=3, background_points=200, reconstructions=3,
                       synthesis_steps=4, synthesis_candidates=8, synthesis_seconds=0.4,
                       permutations=49),
        kinds=_kinds(banded_notes=4, prior_dims=3)),
    "default": Profile(
        TrainConfig(profile="default", hidden_units=512, n_hidden_layers=2, latent_dim=64,
                    stage1_epochs=30, stage2_epochs=50, batch_size=128, lr=1e-3,
                    warmup_epochs=5, alpha=25.0, reg_notes_per_class=128,
                    target_components=5, target_scale=5.0, checkpoint_every=5,
                    iwae_samples=100),
        FigureSettings(),
        kinds=_kinds(banded_notes=32, prior_dims=5)),
    # The figures of ``paper`` are ``default``'s with finer animations.
    "paper": Profile(
        TrainConfig(profile="paper", hidden_units=2000, n_hidden_layers=3, latent_dim=64,
                    stage1_epochs=PAPER_EPOCHS_PER_STAGE,
                    stage2_epochs=PAPER_EPOCHS_PER_STAGE, batch_size=128, lr=PAPER_LR,
                    warmup_epochs=PAPER_WARMUP_EPOCHS, alpha=PAPER_ALPHA,
                    reg_notes_per_class=0, target_components=3, target_scale=1.0,
                    checkpoint_every=100, iwae_samples=100),
        FigureSettings(traversal_positions=16, path_steps=24, griffin_lim_iters=64,
                       novel_notes=60, background_points=3000, synthesis_steps=40,
                       permutations=9999),
        kinds=_kinds(banded_notes=32, prior_dims=3)),
}


def _row(name: str) -> Profile:
    if name not in PROFILES:
        raise KeyError(f"unknown profile {name!r}; choose from {', '.join(sorted(PROFILES))}")
    return PROFILES[name]


def get_profile(name: str, **overrides) -> TrainConfig:
    """The training configuration of profile ``name``, with ``overrides`` applied."""
    return dataclasses.replace(_row(name).train, **overrides)


def get_settings(name: str) -> FigureSettings:
    """The notebooks' sizes of profile ``name``."""
    return _row(name).figures
