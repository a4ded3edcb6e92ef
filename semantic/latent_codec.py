"""The codec on the pretrained TAEF2 latent space: a frozen encoder, a nested linear projection, and a
channel-aware decoder (diffusers ModelMixin/ConfigMixin).

Transmit: the frozen TAEF2 encoder maps an image (B, 3, H, W) in [0, 1] to latents z (B, 32, H/8, W/8).
Each position's 32 values are projected, s = P_k (z - mu): A (32, 32) is learned, its rows ordered
so that the first ``k`` serve bandwidth ratio 1/12 * 32/k (k = 32, 16, 8 give 1/12, 1/24, 1/48:
nested training makes the first 16 and the first 8 the best such subsets), and P_k is its first k
rows scaled by one gain so that the sent values have unit mean power over the training latents
(Sigma, mu: their covariance and mean, fixed buffers).  y = P_k (z - mu) + n is a linear operator
the receiver knows.

Receive: :meth:`ProjectedLatentCodec.estimate` is the LMMSE estimate of z under a Gaussian prior
N(mu, Sigma) from y with per-value noise variances (inf = lost), computed per position in information
form; its error covariance's diagonal says how much of each latent is known.  A small residual network
(:class:`Restorer`) corrects the estimate from its spatial neighbourhood and that reliability map, and
the TAEF2 decoder (fine-tuned with the channel in the loop) makes the image.
"""
from __future__ import annotations

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn

from semantic.taef2 import DOWNSAMPLE, LATENT_CHANNELS, taef2_decoder, taef2_encoder

#: Sent dimensions per latent position for each supported bandwidth ratio (complex channel uses
#: per real image value: two reals per channel use, 3 * 8 * 8 image values per position).
RATIO_DIMS = {"1/12": 32, "1/24": 16, "1/48": 8}
#: Smallest noise variance the estimate uses (40 dB SNR per unit-power value): keeps the per-position
#: information matrix well conditioned in float32 when a value arrives (nearly) noise-free.
MIN_VAR = 1e-4


def received_precision(y: torch.Tensor, noise_var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(y with 0 where lost, precision 1 / max(var, MIN_VAR) with 0 where lost) for received values and
    their noise variances (same shape; a lost value has inf or NaN variance, or a NaN value)."""
    ok = torch.isfinite(noise_var) & torch.isfinite(y)
    prec = torch.where(ok, 1.0 / noise_var.clamp_min(MIN_VAR).nan_to_num(1.0), torch.zeros_like(y))
    return torch.where(ok, y, torch.zeros_like(y)), prec


def _restorer_stage(channels: int, hidden: int) -> nn.Sequential:
    """Four 3x3 convolutions (receptive field 9 x 9 latent positions): (2 * channels, h, w) ->
    (channels, h, w); the last starts at zero, so an untrained stage adds nothing."""
    net = nn.Sequential(nn.Conv2d(2 * channels, hidden, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(),
                        nn.Conv2d(hidden, channels, 3, padding=1))
    nn.init.zeros_(net[-1].weight)
    nn.init.zeros_(net[-1].bias)
    return net


class Restorer(nn.Module):
    """Residual correction of a latent estimate: (estimate, log error variance) -> estimate + delta,
    in ``stages`` residual stages applied in turn (each sees the previous stage's estimate and the
    same error map; receptive field 1 + 8 * stages latent positions).

    Input and output (B, 32, h, w); every stage's last convolution starts at zero, so an untrained
    restorer is the identity, and a stage added to a trained restorer starts as a no-op.
    """

    def __init__(self, channels: int = LATENT_CHANNELS, hidden: int = 96, stages: int = 1):
        super().__init__()
        if stages < 1:
            raise ValueError(f"restorer stages must be >= 1, got {stages}")
        self.net = _restorer_stage(channels, hidden)          # the first stage (the one-stage models' keys)
        self.more = nn.ModuleList(_restorer_stage(channels, hidden) for _ in range(stages - 1))

    def forward(self, z_white: torch.Tensor, log_err: torch.Tensor) -> torch.Tensor:
        """z_white: estimate in prior-standardised units; log_err: log of its error variance in the same
        units (0 = nothing known, very negative = known exactly)."""
        for net in (self.net, *self.more):
            z_white = z_white + net(torch.cat([z_white, log_err], 1))
        return z_white


class ProjectedLatentCodec(ModelMixin, ConfigMixin):
    """Frozen TAEF2 encoder -> nested projection -> channel -> LMMSE + restorer -> TAEF2 decoder.

    Args:
        tile: transmission tile in pixels (8 x 8 latent positions by default).
        hidden: width of the restorer.
        restorer_stages: residual stages of the restorer (1: the first- to third-stage codecs).
    """

    @register_to_config
    def __init__(self, tile: int = 64, hidden: int = 96, restorer_stages: int = 1):
        super().__init__()
        if tile % DOWNSAMPLE:
            raise ValueError(f"tile={tile} must be a multiple of {DOWNSAMPLE}")
        c = LATENT_CHANNELS
        self.encoder = taef2_encoder()
        self.decoder = taef2_decoder()
        self.restorer = Restorer(c, hidden, restorer_stages)
        self.basis = nn.Parameter(torch.eye(c))
        self.register_buffer("latent_mean", torch.zeros(c))
        self.register_buffer("latent_cov", torch.eye(c))
        self.encoder.requires_grad_(False)

    # ------------------------------------------------------------------ shapes
    @property
    def downsample(self) -> int:
        return DOWNSAMPLE

    def latent_shape(self, dims: int) -> tuple[int, int, int]:
        """(C, h, w) of one tile's sent latent with ``dims`` values per position."""
        s = self.config.tile // DOWNSAMPLE
        return (dims, s, s)

    # ------------------------------------------------------------------ set-up from data
    @torch.no_grad()
    def init_projection(self, latents: torch.Tensor) -> None:
        """Set mean and covariance from sample latents (N, 32) and start A at their PCA basis."""
        mean = latents.mean(0)
        self.latent_mean.copy_(mean)
        self.latent_cov.copy_(torch.cov((latents - mean).T))
        self.reset_projection()

    @torch.no_grad()
    def reset_projection(self) -> None:
        """A at the PCA basis of ``latent_cov`` (rows by decreasing variance), so that the first k rows
        are the best k-dimensional linear subset: the starting point of training."""
        _, evecs = torch.linalg.eigh(self.latent_cov)
        self.basis.copy_(evecs.flip(1).T)

    def projection(self, dims: int) -> torch.Tensor:
        """P_k (dims, 32) = A_k / sqrt(trace(A_k Sigma A_k^T) / dims): the first ``dims`` rows of A,
        scaled so that the sent values have unit mean power over the training latents (the power
        split between the dims is learned with A)."""
        a = self.basis[:dims]
        power = torch.einsum("ij,jk,ik->", a, self.latent_cov, a) / dims
        return a * power.clamp_min(1e-12).rsqrt()

    # ------------------------------------------------------------------ transmit
    def encode_latents(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1], H and W multiples of 8 -> TAEF2 latents (B, 32, H/8, W/8)."""
        return self.encoder(x)

    def project(self, z: torch.Tensor, dims: int) -> torch.Tensor:
        """Latents (B, 32, h, w) -> sent values (B, dims, h, w), unit mean power per value on the
        training latents."""
        p = self.projection(dims)
        return torch.einsum("kc,bchw->bkhw", p, z - self.latent_mean[:, None, None])

    def sent_power(self, noise_var: torch.Tensor) -> torch.Tensor:
        """(B,) mean power, over the training latents, of the values ``project(z, 32)`` gives map b in its
        first k channels, k = its leading channels with a finite variance somewhere in ``noise_var``
        (B, 32, h, w; inf = not sent or lost): p_k / p_32, p_k the mean power of the first k rows of
        the basis over ``latent_cov``.  The link sends ``project(z, k)`` (unit mean power over its own
        k), so a training channel that scales its noise by this has the link's SNR per value at
        every ratio (unscaled, the first 16 or 8 values carry more power than the link sends)."""
        return self.power_ratio(torch.isfinite(noise_var).flatten(2).any(2).sum(1).clamp_min(1))

    @torch.no_grad()
    def power_ratio(self, dims: torch.Tensor) -> torch.Tensor:
        """p_k / p_32 for each k in ``dims`` (int, any shape; 1..32): the mean power of the first k rows
        of the basis over ``latent_cov`` relative to that of all 32."""
        power = torch.einsum("ij,jk,ik->i", self.basis, self.latent_cov, self.basis)
        mean_first = power.cumsum(0) / torch.arange(1, len(power) + 1, device=power.device)
        return mean_first[dims - 1] / power.mean()

    # ------------------------------------------------------------------ receive
    def estimate(self, y: torch.Tensor, noise_var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """LMMSE estimate of the latents from y = P_k (z - mu) + n.

        Args:
            y: received values (B, k, h, w), k <= 32 (NaN or anything where the variance is inf).
            noise_var: per-value noise variance, same shape; inf (or NaN) marks a lost value.
        Returns:
            (z_hat (B, 32, h, w), err_var (B, 32, h, w)): the estimate and its error variance per latent
            (the prior variance where nothing of it arrived).
        """
        b, k, h, w = y.shape
        p = self.projection(k)                                            # (k, 32)
        y0, prec = received_precision(y, noise_var)
        prec = prec.permute(0, 2, 3, 1).reshape(-1, k)                       # (N, k)
        y0 = y0.permute(0, 2, 3, 1).reshape(-1, k)
        cov_inv = torch.linalg.inv(self.latent_cov)
        info = cov_inv + torch.einsum("ki,nk,kj->nij", p, prec, p)          # (N, 32, 32)
        chol = torch.linalg.cholesky(info)
        rhs = torch.einsum("ki,nk->ni", p, prec * y0)[..., None]
        z = torch.cholesky_solve(rhs, chol)[..., 0]
        err = torch.cholesky_inverse(chol).diagonal(dim1=-2, dim2=-1)
        z = z.reshape(b, h, w, -1).permute(0, 3, 1, 2) + self.latent_mean[:, None, None]
        err = err.reshape(b, h, w, -1).permute(0, 3, 1, 2)
        return z, err

    def decode(self, y: torch.Tensor, noise_var: torch.Tensor) -> torch.Tensor:
        """Received values and variances (B, k, h, w) -> image (B, 3, 8h, 8w) in [0, 1]."""
        return self(y, noise_var).clamp(0.0, 1.0)

    def to_white(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (B, 32, h, w) in prior-standardised units (z - mu) / sqrt(diag Sigma)."""
        return (z - self.latent_mean[:, None, None]) / self.latent_cov.diagonal().sqrt()[:, None, None]

    def from_white(self, x: torch.Tensor) -> torch.Tensor:
        """Prior-standardised latents (B, 32, h, w) back to latents: the inverse of :meth:`to_white`."""
        return x * self.latent_cov.diagonal().sqrt()[:, None, None] + self.latent_mean[:, None, None]

    def restore_white(self, y: torch.Tensor, noise_var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Received values and variances (B, k, h, w) -> (restored latents, log of the LMMSE error
        variance), both (B, 32, h, w) in prior-standardised units (:meth:`to_white`)."""
        z, err = self.estimate(y, noise_var)
        log_err = torch.log(err.clamp_min(1e-6) / self.latent_cov.diagonal().sqrt()[:, None, None] ** 2)
        return self.restorer(self.to_white(z), log_err), log_err

    def restore(self, y: torch.Tensor, noise_var: torch.Tensor) -> torch.Tensor:
        """Received values and variances (B, k, h, w) -> restored latents (B, 32, h, w)."""
        return self.from_white(self.restore_white(y, noise_var)[0])

    def forward(self, y: torch.Tensor, noise_var: torch.Tensor) -> torch.Tensor:
        """As :meth:`decode` without the final clamp (what the training loss sees)."""
        return self.decoder(self.restore(y, noise_var))
