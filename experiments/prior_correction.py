"""Does the diffusion prior's learnt correction improve on the estimate it is conditioned on?

The prior (``semantic.posterior.predict_x0``) returns the precision-weighted combination of x_t and
the codec's restored estimate plus a UNet correction. At t = T (realism 0: one evaluation) the
combination is the restored estimate itself, so the correction is all the prior adds there. On the
validation split's fixed batch of ``semantic.prior_train`` (its crops, channels and noises) this
measures the x0 error (mean square, standardised latent units) of

- ``restored``: the restored estimate alone (what ``direct`` decodes),
- ``combination``: the prior with its correction zeroed (an untrained prior),
- ``prior``: the prior as shipped,

at t = T - 1 for every crop and at the validation batch's times spread over the schedule (the
``val_loss`` of ``prior_log.jsonl``).  Kodak is never read.

Usage: python experiments/prior_correction.py [--model semantic/weights/default] --out docs/results/prior_correction.json
"""
from __future__ import annotations

import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from semantic.latent_codec import DOWNSAMPLE
from semantic.posterior import predict_x0
from semantic.prior_train import VAL_CROPS, make_scheduler, standardised_pairs, validation_batch
from semantic.train import FinetuneConfig, LatentCrops
from validation_crops import validation_experiment  # experiments/ (the script's own folder)


@torch.no_grad()
def x0_errors(prior, xt, t, abar, cond, x0) -> dict:
    """Mean square x0 error (standardised units) of the restored estimate, the zero-correction
    combination and the prior, on one batch."""
    zeroed = copy.deepcopy(prior)
    torch.nn.init.zeros_(zeroed.conv_out.weight)
    torch.nn.init.zeros_(zeroed.conv_out.bias)
    est = cond.chunk(2, 1)[0]
    return {"restored": float((est - x0).square().mean()),
            "combination": float((predict_x0(zeroed, xt, t, abar, cond) - x0).square().mean()),
            "prior": float((predict_x0(prior, xt, t, abar, cond) - x0).square().mean())}


def main(argv: list[str] | None = None) -> int:
    a, codec, val = validation_experiment(__doc__.splitlines()[0], argv, {"--crop": dict(
        type=int, default=16, help="latent crop side, as semantic.prior_train (positions)")})
    t_cpu = time.process_time()
    cfg = FinetuneConfig()
    if codec.prior is None:
        print(f"error: {a.model or 'the shipped model'} has no diffusion prior", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        crops = LatentCrops(standardised_pairs(codec, val, cfg.scales, Path(tmp) / "val.pt", False),
                            a.crop * DOWNSAMPLE)
    sched = make_scheduler()
    prior = codec.prior.eval()
    result = {"what": __doc__.splitlines()[0], "model": a.model or "semantic/weights/default",
              "val_photos": sorted(val), "crops": VAL_CROPS}
    # semantic.prior_train's fixed validation batch: its times spread over the schedule, then all at T - 1
    for name, t in (("times_spread", None), ("t_T", torch.full((VAL_CROPS,), sched.config.num_train_timesteps - 1))):
        result[name] = x0_errors(prior, *validation_batch(codec, crops, sched, torch.device("cpu"), t))
    result["cpu_s"] = round(time.process_time() - t_cpu, 1)
    Path(a.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
