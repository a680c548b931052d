"""The parts of the training recipe that keep a short run's score about the loss rather than about luck.

A confirmation run is scored once, at its end, and compared with another loss's run on the same fold; what
the seed alone moves in that score is noise the verdict has to see through. Three pieces remove some of it:

- :func:`foreground_window`: a share of the training crops centred on a foreground pixel, as nnU-Net
  samples a third of its patches (Isensee et al. 2021, "nnU-Net", ``oversample_foreground_percent``), so a
  batch of native-resolution crops of a thin or rare class is not mostly background.
- :class:`WeightAverage`: an exponential moving average of the weights (Polyak & Juditsky 1992; the "EMA
  model" of timm and of many segmentation recipes), the model that is evaluated, so the score is that of the
  trajectory's recent average rather than of wherever the last noisy step left the weights.
- :func:`lr_factor`: the learning-rate schedule (constant after the warm-up, or a cosine/linear decay).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

SCHEDULES = ("constant", "cosine", "linear")
EMA_WARMUP = 10  # the decay grows as (1 + t) / (EMA_WARMUP + t), so early averages are not held at the init


def foreground_window(
    fg_flat: np.ndarray, shape: tuple[int, int], side: int, rng: np.random.Generator
) -> tuple[int, int]:
    """Top-left corner ``(y, x)`` of a ``side x side`` window that contains a random foreground pixel, as
    near its centre as the tile's edges allow.

    Args:
        fg_flat: Flat indices (row-major, into ``shape``) of the tile's foreground pixels; must not be empty.
        shape: ``(height, width)`` of the tile, both at least ``side``.
        side: Window side.
        rng: Draws the pixel.

    Example:
        >>> foreground_window(np.array([5 * 100 + 7]), (100, 100), 32, np.random.default_rng(0))
        (0, 0)
    """
    height, width = shape
    y, x = divmod(int(fg_flat[rng.integers(len(fg_flat))]), width)
    top = min(max(y - side // 2, 0), height - side)
    left = min(max(x - side // 2, 0), width - side)
    return top, left


def forced_foreground(batch_size: int, share: float) -> int:
    """How many samples of a batch are drawn around foreground: ``round(batch_size * share)``, the nnU-Net
    rule (its last samples of a batch; at least one as soon as the share is positive).

    Example:
        >>> forced_foreground(8, 1 / 3), forced_foreground(2, 1 / 3), forced_foreground(8, 0.0)
        (3, 1, 0)
    """
    if share <= 0:
        return 0
    return min(batch_size, max(1, round(batch_size * share)))


def lr_factor(schedule: str, step: int, total: int, warmup: int = 0) -> float:
    """The learning rate of optimiser step ``step`` (0-based) as a share of the peak rate.

    A linear warm-up from 1 % over ``warmup`` steps, then ``constant`` (1.0), ``cosine`` (half a cosine from 1
    down to 0 at ``total``) or ``linear`` (a straight line down to 0 at ``total``).

    Example:
        >>> lr_factor("cosine", 50, 100), lr_factor("linear", 75, 100), lr_factor("constant", 99, 100)
        (0.5, 0.25, 1.0)
    """
    if warmup and step < warmup:
        return 0.01 + 0.99 * step / warmup
    if schedule == "constant":
        return 1.0
    span = max(total - warmup, 1)
    done = min(max(step - warmup, 0) / span, 1.0)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * done))
    if schedule == "linear":
        return 1.0 - done
    raise ValueError(f"The learning-rate schedule must be one of {SCHEDULES}; got {schedule!r}.")


class WeightAverage:
    """An exponential moving average of a model's parameters and floating-point buffers.

    After step ``t`` (1-based), ``avg = d_t * avg + (1 - d_t) * weights`` with ``d_t = min(decay, (1 + t) /
    (warmup + t))``: the first updates follow the weights closely, later ones average over about
    ``1 / (1 - d_t)`` steps (``warmup=0``: the plain ``decay`` from the first step). Batch-norm running
    statistics are averaged like the weights (timm's ``ModelEmaV2`` does the same), integer buffers
    (``num_batches_tracked``) are copied.

    Args:
        model: The trained model; a copy holds the average.
        decay: The long-run decay (0 < decay < 1).
        warmup: Steps of the growing decay (0: none).
    """

    def __init__(self, model, *, decay: float, warmup: int = EMA_WARMUP) -> None:
        import copy

        if not 0.0 < decay < 1.0:
            raise ValueError(
                f"The 'decay' of WeightAverage must be between 0 and 1 (exclusive); got {decay!r}."
            )
        self.decay = decay
        self.warmup = warmup
        self.steps = 0
        self.model = copy.deepcopy(model)
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def current_decay(self) -> float:
        if not self.warmup:
            return self.decay
        return min(self.decay, (1.0 + self.steps) / (self.warmup + self.steps))

    def update(self, model) -> None:
        """Fold the model's current weights into the average (call after each optimiser step)."""
        import torch

        self.steps += 1
        d = self.current_decay()
        with torch.no_grad():
            for avg, live in zip(self.model.state_dict().values(), model.state_dict().values(), strict=True):
                if avg.dtype.is_floating_point:
                    avg.mul_(d).add_(live.detach(), alpha=1.0 - d)
                else:
                    avg.copy_(live)


@dataclass(frozen=True)
class TrainingRecipe:
    """What besides the loss, its parameters, the learning rate and the step budget decides a run's score.

    It changes what a run's IoU means, so it is one of a study's objective settings: a study keeps the recipe
    it was made with (:data:`LEGACY_RECIPE` for a study older than the recipe).
    """

    ema_decay: float | None = None  # validate a moving average of the weights (None: the weights themselves)
    ema_warmup: int = EMA_WARMUP
    foreground_share: float = 0.0  # crop mode: share of each batch's crops centred on foreground
    schedule: str = "constant"  # after the warm-up (see lr_factor)

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"The 'schedule' of TrainingRecipe must be one of {SCHEDULES}; got {self.schedule!r}."
            )
        if not 0.0 <= self.foreground_share <= 1.0:
            raise ValueError(
                "The 'foreground_share' of TrainingRecipe must be between 0 and 1; "
                f"got {self.foreground_share!r}."
            )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainingRecipe:
        return cls(**{k: d[k] for k in ("ema_decay", "ema_warmup", "foreground_share", "schedule") if k in d})

    def describe(self, *, crop: bool) -> str:
        """The recipe in words (:func:`lossadvisor._run_records.describe_recipe`)."""
        from lossadvisor._run_records import describe_recipe

        return describe_recipe(self.to_dict(), crop=crop)


# The recipe of every run before issue 17: the last step's weights validated, uniform crops, constant rate.
LEGACY_RECIPE = TrainingRecipe()

# The default since issue 17 (benchmarks/bench_noise.py measured what each part does to the noise).
DEFAULT_RECIPE = TrainingRecipe(ema_decay=0.99, foreground_share=1 / 3)
