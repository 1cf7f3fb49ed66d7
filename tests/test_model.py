"""The VAE, checked against hand computations."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from vts.model import VAE, ModelConfig, beta_schedule


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
