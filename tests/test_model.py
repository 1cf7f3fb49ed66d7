"""The VAE and the perceptual regulariser R(z, T), checked against hand computations."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import norm

from vts.model import (
    SIGMA,
    VAE,
    ModelConfig,
    beta_schedule,
    latent_kernel,
    perceptual_regularizer,
    regularizer_floor,
    regularizer_from_points,
    target_kernel,
)


# -- hand-written reference (plain numpy loops, straight from the paper's formulas) --
def hand_kernels(z, t, sigma=SIGMA):
    m = len(z)
    dz = np.zeros((m, m))
    for i in range(m):
        denom = sum(math.exp(-np.sum((z[i] - z[k]) ** 2) / (2 * sigma ** 2))
                    for k in range(m) if k != i)
        for j in range(m):
            if j != i:
                dz[i, j] = math.exp(-np.sum((z[i] - z[j]) ** 2) / (2 * sigma ** 2)) / denom
    total = sum(1 / (1 + np.sum((t[k] - t[l]) ** 2)) for k in range(m) for l in range(m) if k != l)
    dt = np.zeros((m, m))
    for i in range(m):
        for j in range(m):
            if j != i:
                dt[i, j] = 1 / (1 + np.sum((t[i] - t[j]) ** 2)) / total
    return dz, dt


def hand_r(z, t, sigma=SIGMA):
    dz, dt = hand_kernels(z, t, sigma)
    m = len(z)
    return sum(dz[i, j] * math.log(dz[i, j] / dt[i, j]) for i in range(m) for j in range(m)
               if i != j)


TARGET = pd.DataFrame([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], index=["a", "b", "c"],
                      columns=["dim1", "dim2"])


def test_kernels_match_hand_computation_three_classes_1d():
    z = np.array([[0.0], [1.0], [3.0]])
    t = TARGET.to_numpy()
    dz, dt = hand_kernels(z, t)
    # a few entries written out fully (sigma = 1/sqrt 2, so 2 sigma^2 = 1)
    assert dz[0, 1] == pytest.approx(math.exp(-1) / (math.exp(-1) + math.exp(-9)))
    assert dt[0, 2] == pytest.approx((1 / 5) / (2 * (1 / 2 + 1 / 5 + 1 / 6)))
    got_dz = latent_kernel(torch.tensor(z)).numpy()
    got_dt = target_kernel(torch.tensor(t)).numpy()
    np.testing.assert_allclose(got_dz, dz, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(got_dt, dt, rtol=1e-10)
    assert float(regularizer_from_points(torch.tensor(z), torch.tensor(t))) == \
        pytest.approx(hand_r(z, t), rel=1e-10)


def test_regulariser_uses_class_centroids_and_ignores_unrated_notes():
    # class a: codes around (0, 0); class b: around (1, 1); class c: one code at (2, -1);
    # '' (no rating) and 'x' (not in the target) must not matter.
    z = torch.tensor([[-0.5, 0.0], [0.5, 0.0], [1.0, 2.0], [1.0, 0.0], [2.0, -1.0],
                      [50.0, 50.0], [-9.0, 3.0]], dtype=torch.float64)
    labels = ["a", "a", "b", "b", "c", "", "x"]
    centroids = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, -1.0]])
    expected = hand_r(centroids, TARGET.to_numpy())
    assert float(perceptual_regularizer(z, labels, TARGET)) == pytest.approx(expected, rel=1e-10)
    # only the classes present in the batch enter R (here b and c)
    r_bc = perceptual_regularizer(z[2:5], labels[2:5], TARGET)
    assert float(r_bc) == pytest.approx(hand_r(centroids[1:], TARGET.to_numpy()[1:]), rel=1e-10)


def test_regulariser_gradient_reaches_rated_codes_only():
    z = torch.tensor([[0.1, 0.3], [0.4, -0.2], [1.5, 0.5], [2.0, 2.0], [0.0, 0.0]],
                     dtype=torch.float64, requires_grad=True)
    labels = ["a", "b", "c", "a", ""]
    r = perceptual_regularizer(z, labels, TARGET)
    r.backward()
    grad = z.grad.numpy()
    assert np.isfinite(grad).all()
    assert np.abs(grad[:4]).sum() > 1e-6
    np.testing.assert_array_equal(grad[4], 0.0)
    # finite-difference check of one coordinate
    eps = 1e-6
    zp = z.detach().clone()
    zp[2, 0] += eps
    zm = z.detach().clone()
    zm[2, 0] -= eps
    fd = (float(perceptual_regularizer(zp, labels, TARGET))
          - float(perceptual_regularizer(zm, labels, TARGET))) / (2 * eps)
    assert grad[2, 0] == pytest.approx(fd, rel=1e-5, abs=1e-8)


def test_fewer_than_two_classes_gives_zero():
    z = torch.randn(4, 3, requires_grad=True)
    r = perceptual_regularizer(z, ["a", "a", "", "zzz"], TARGET)
    assert float(r.detach()) == 0.0
    r.backward()
    np.testing.assert_array_equal(z.grad.numpy(), 0.0)


def _embed_squared_distances(d2: np.ndarray) -> np.ndarray:
    """Classical MDS: points whose squared distances are exactly ``d2`` (must be Euclidean)."""
    m = len(d2)
    j = np.eye(m) - 1.0 / m
    b = -0.5 * j @ d2 @ j
    w, v = np.linalg.eigh(b)
    assert w.min() > -1e-10, "not a Euclidean distance matrix"
    return v * np.sqrt(np.clip(w, 0, None))


def test_regulariser_minimum_is_reached_where_the_paper_kernels_agree():
    """R is a sum of KLs between the row-normalised latent kernel and the target
    kernel normalised over *all* pairs, so D^z never equals D^T and R is never 0
    for more than one class. What "the two spaces agree" can mean is that each
    latent row equals the row-normalised target row: then R takes its smallest
    possible value, -sum_i log(sum_j D^T_ij). With sigma = 1/sqrt 2 this happens
    when the squared latent distances are log(1 + ||T_i - T_j||^2) + c; we build
    such z (classical MDS, c = 1) and check R equals the floor (computed here by
    hand), that perturbing z raises R, and that z = T itself is *not* optimal."""
    rng = np.random.default_rng(0)
    t = rng.normal(size=(5, 3))
    d2_t = ((t[:, None] - t[None]) ** 2).sum(-1)
    d2_z = np.log1p(d2_t) + 1.0
    np.fill_diagonal(d2_z, 0.0)
    z = _embed_squared_distances(d2_z)
    _, dt = hand_kernels(z, t)
    floor = -np.sum(np.log(dt.sum(1)))
    assert floor > 0                                    # never 0 with this normalisation
    assert regularizer_floor(t) == pytest.approx(floor, rel=1e-12)
    r_opt = float(regularizer_from_points(torch.tensor(z), torch.tensor(t)))
    assert r_opt == pytest.approx(floor, rel=1e-9)
    for _ in range(20):
        zp = z + 0.05 * rng.normal(size=z.shape)
        assert float(regularizer_from_points(torch.tensor(zp), torch.tensor(t))) > r_opt
    r_identity = float(regularizer_from_points(torch.tensor(t), torch.tensor(t)))
    assert r_identity > floor + 1e-3


def test_gradient_descent_on_centroids_approaches_the_floor():
    rng = np.random.default_rng(1)
    t = torch.tensor(rng.normal(size=(6, 3)))
    z = torch.tensor(rng.normal(size=(6, 4)), requires_grad=True)
    opt = torch.optim.Adam([z], lr=0.05)
    start = float(regularizer_from_points(z, t).detach())
    for _ in range(1500):
        opt.zero_grad()
        r = regularizer_from_points(z, t)
        r.backward()
        opt.step()
    floor = regularizer_floor(t.numpy())
    assert start - floor > 0.05
    assert float(r.detach()) - floor < 0.01 * (start - floor)


# -- the VAE -----------------------------------------------------------------------------
def small_vae(likelihood="learned", seed=0):
    torch.manual_seed(seed)
    return VAE(ModelConfig(input_dim=10, hidden_units=16, n_hidden_layers=2, latent_dim=3,
                           likelihood=likelihood))


def test_vae_shapes():
    vae = small_vae()
    x = torch.randn(7, 10)
    out = vae(x)
    assert out.x_mean.shape == (7, 10)
    assert out.mu.shape == out.logvar.shape == out.z.shape == (7, 3)
    assert vae.decode(torch.zeros(2, 3)).shape == (2, 10)
    assert vae.kl_divergence(out.mu, out.logvar).shape == (7,)
    assert vae.log_likelihood(x, out.x_mean).shape == (7,)
    # paper defaults
    cfg = ModelConfig(input_dim=168)
    assert (cfg.hidden_units, cfg.n_hidden_layers, cfg.latent_dim) == (2000, 3, 64)
    n_linear = sum(isinstance(m, torch.nn.Linear) for m in VAE(cfg).modules())
    assert n_linear == 2 * 3 + 3      # 3 hidden per side, mu and logvar heads, decoder output


def test_kl_is_zero_at_the_prior_and_positive_elsewhere():
    mu = torch.zeros(3, 4)
    logvar = torch.zeros(3, 4)
    np.testing.assert_allclose(VAE.kl_divergence(mu, logvar).numpy(), 0.0)
    mu2 = torch.tensor([[1.0, 0, 0, 0]])
    lv2 = torch.tensor([[0.0, math.log(2.0), 0, 0]])
    # closed form by hand: 0.5 * (1) + 0.5 * (2 - 1 - log 2)
    expected = 0.5 + 0.5 * (2 - 1 - math.log(2.0))
    assert float(VAE.kl_divergence(mu2, lv2)) == pytest.approx(expected, rel=1e-6)


def test_gaussian_log_likelihood_matches_scipy():
    vae = small_vae()
    with torch.no_grad():
        vae.out_logvar.copy_(torch.linspace(-1, 1, 10))
    x = torch.randn(4, 10)
    mean = torch.randn(4, 10)
    std = np.exp(0.5 * np.linspace(-1, 1, 10))
    expected = norm.logpdf(x.numpy(), mean.numpy(), std).sum(1)
    np.testing.assert_allclose(vae.log_likelihood(x, mean).detach().numpy(), expected, rtol=1e-5)
    fixed = small_vae("fixed")
    expected_fixed = norm.logpdf(x.numpy(), mean.numpy(), 1.0).sum(1)
    np.testing.assert_allclose(fixed.log_likelihood(x, mean).numpy(), expected_fixed, rtol=1e-5)
    assert not any(p is fixed.out_logvar for p in fixed.parameters())


def test_iwae_bound_tightens_with_more_samples():
    vae = small_vae()
    x = torch.randn(64, 10)
    gen = torch.Generator().manual_seed(0)
    one = vae.iwae_log_likelihood(x, k=1, generator=gen).mean()
    many = vae.iwae_log_likelihood(x, k=200, generator=gen).mean()
    with torch.no_grad():
        out = vae(x)
        elbo = (vae.log_likelihood(x, out.x_mean) - vae.kl_divergence(out.mu, out.logvar)).mean()
    assert float(many) > float(one)
    assert float(one) == pytest.approx(float(elbo), abs=0.1 * abs(float(elbo)))


def test_fitting_reduces_reconstruction_error_and_kl_stays_finite():
    torch.manual_seed(0)
    vae = small_vae()
    x = torch.randn(128, 3) @ torch.randn(3, 10)       # rank-3 data, fits a 3-d latent
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    with torch.no_grad():
        before = float(((vae.decode(vae.encode(x)[0]) - x) ** 2).mean())
    for _ in range(400):
        out = vae(x)
        loss = -vae.log_likelihood(x, out.x_mean).mean() + \
            vae.kl_divergence(out.mu, out.logvar).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        mu, logvar = vae.encode(x)
        after = float(((vae.decode(mu) - x) ** 2).mean())
        kl = float(vae.kl_divergence(mu, logvar).mean())
    assert after < 0.5 * before
    assert 0 < kl < 100


def test_beta_warm_up():
    assert beta_schedule(0) == 0.0
    assert beta_schedule(50) == pytest.approx(1.0)       # paper: 2 reached after 100 epochs
    assert beta_schedule(100) == 2.0
    assert beta_schedule(5000) == 2.0
    assert beta_schedule(2.5, beta=2.0, warmup_epochs=5) == pytest.approx(1.0)
    assert beta_schedule(0, beta=2.0, warmup_epochs=0) == 2.0


def test_model_config_validation():
    with pytest.raises(ValueError):
        ModelConfig(input_dim=0)
    with pytest.raises(ValueError):
        ModelConfig(input_dim=10, likelihood="laplace")
    cfg = ModelConfig(input_dim=10, hidden_units=8)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
