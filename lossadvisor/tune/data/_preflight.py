"""Settings checked against the data in the plan phase, before anything is written or trained.

Each check here was once a refusal that came only after the expensive part (a forward pass on a 10000 px crop,
the LR tests and the search before ``--folds 100`` was refused, a confirmation stopped by class value 7), or
never came at all. The profile and the decoded tiles already hold what they need: tile sides, class values and
the number of pairs.
"""

from __future__ import annotations

from lossadvisor.errors import ConfigError


def check_crop(profile, crop: int | None) -> None:
    """Refuse a crop larger than the smallest tile side, before the model or the memory check sees it."""
    if crop is None:
        return
    smallest = int(min(profile.image_height.min, profile.image_width.min))
    if crop > smallest:
        raise ConfigError(
            f"--crop {crop} is larger than the smallest tile ({smallest} px on its short side); choose a "
            f"crop no larger than {smallest}, or use --size to resize whole tiles. Nothing was written."
        )


def check_class_values(profile) -> None:
    """Refuse class values that are not ``0..C-1`` (e.g. 0/1/7 without a class map): the model gets C outputs
    and a label of 7 is a class it cannot predict. A class map names the values and renumbers them."""
    values = sorted(c.index for c in profile.classes)
    if values == list(range(len(values))):
        return
    shown = ", ".join(str(v) for v in values)
    example = ", ".join(f'"{c.name}": {c.index}' for c in sorted(profile.classes, key=lambda c: c.index))
    raise ConfigError(
        f"The masks hold the class values {shown}, but training needs the values 0..{len(values) - 1} (one "
        f"model output per class). Give a class map that names each value, e.g. --class-map classes.json "
        f"with {{{example}}}: it renumbers them to 0..{len(values) - 1} for the profile, the labels and the "
        f"model alike. If a value marks pixels to leave out, pass it as --ignore-index. Nothing was written."
    )


def tile_count(data) -> int:
    """Tiles (not crop windows) in a :class:`~lossadvisor.tune.data.TrainData`."""
    val = {n.rsplit("@", 1)[0] for n in data.val_names} if data.mode == "crop" else set(data.val_names)
    return len(data.train_names) + len(val)

