"""Phase ``advise``: the rules' recommendation and search space, the training size the lost-objects rule asks
for, and ``recommendation.json`` (this worker's, or the shared study's when it differs)."""

from __future__ import annotations

import logging
import math
from pathlib import Path

from lossadvisor import runfolder
from lossadvisor.tune._options import SIDE_MULTIPLE
from lossadvisor.tune._phases._context import TuneContext
from lossadvisor.tune.search import SearchSpace

logger = logging.getLogger("lossadvisor.tune._api")  # tune's logger, as before the phases were split out

DEFAULT_SIZE = 128
RULE_LOST = "rule_objects_lost_at_train_size"
# On a CPU the size the lost-objects rule switches to is capped here, so the default budget stays a budget: a
# CompactUNet step at batch 8 (2 threads) took 1.05 s at 128 px, 1.68 s at 256 px and 10.3 s at 608 px
# (measured 2026-12-03 on this project's 2-core CPU), so an uncapped 608 px run takes ~10x the
# default time. The user can still ask for the full size with --size.
CPU_MAX_SWITCH_SIZE = 256


def advise(profile, rules_config, objective: str = "iou"):
    """The recommendation for ``profile`` and its search space (starting at the rules' candidates), ranked
    for the scored metric ``objective``.

    Reads only: the advice is written by :func:`write_advice` once the run is known to be valid.
    """
    from lossadvisor.rules import recommend

    rec = recommend(profile, config=rules_config, objective=objective)
    return rec, SearchSpace(rec.search_space, starting_points={c.loss: c.params for c in rec.candidates})


def follow_size_advice(
    profile, rec, *, multiple: int = SIDE_MULTIPLE, max_size: int | None = None
) -> dict | None:
    """When the lost-objects rule fires, the training size it asks for: native-resolution crops of
    :data:`DEFAULT_SIZE` (smaller when a tile is smaller), or the larger resize size it names, both rounded to
    a ``multiple`` the model accepts, and at most ``max_size`` (the CPU cap, :data:`CPU_MAX_SWITCH_SIZE`) so
    that the switch never turns the default budget into hours; the message says when it was capped.

    Returns None when the rule does not fire (or the tiles are too small to crop).
    """
    from lossadvisor.rules import training_size_advice

    advice = training_size_advice(profile, rec.thresholds)
    if advice is None:
        return None
    why = (
        f"at {advice.profiled_size} px, {advice.measured_share:.0%} of objects fall under 4 px across "
        f"({RULE_LOST})"
    )
    keep = "Pass --size or --crop to choose."
    if advice.size is not None:
        size = int(math.ceil(advice.size / multiple) * multiple)
        if max_size is not None and size > max_size:
            capped = max(DEFAULT_SIZE, max_size // multiple * multiple)
            message = (
                f"Training at {capped} px instead of {DEFAULT_SIZE}: {why}; the rule asks for {size} px, "
                f"capped at {capped} px on a CPU (a training step there costs "
                f"~{(size / DEFAULT_SIZE) ** 2:.0f}x one at {DEFAULT_SIZE} px, hours at the default budget). "
                f"Pass --size {size} to train at the full size."
            )
            return {"size": capped, "crop": None, "rule": RULE_LOST, "message": message, "asked_size": size}
        message = f"Training at {size} px instead of {DEFAULT_SIZE}: {why}. {keep}"
        return {"size": size, "crop": None, "rule": RULE_LOST, "message": message}
    smallest = int(min(profile.image_height.min, profile.image_width.min))
    crop = min(DEFAULT_SIZE, smallest // multiple * multiple)
    if crop < multiple:
        return None
    message = (
        f"Training on native-resolution {crop}x{crop} crops instead of resizing tiles to {DEFAULT_SIZE} px: "
        f"{why}. {keep}"
    )
    return {"size": DEFAULT_SIZE, "crop": crop, "rule": RULE_LOST, "message": message}


def write_advice(tc: TuneContext) -> None:
    """Write this worker's ``recommendation.json``."""
    tc.rec.save(tc.run_dir / runfolder.RECOMMENDATION_JSON)


def adopt_definition(session, rec, space: SearchSpace, run_dir: Path):
    """The study's stored recommendation (made by its first worker) and its search space, for this worker.

    Workers of one study must search one space; a worker whose own advice differs (another --rules-config,
    another lossadvisor version) follows the study and says so.
    """
    from lossadvisor.rules import Recommendation

    stored = session.definition
    if not stored or stored == rec.to_dict():
        return rec, space
    adopted = Recommendation.from_dict(stored)
    if adopted.search_space != rec.search_space:
        logger.warning(
            "This worker's advice differs from the one study %r was created with; it searches the study's "
            "space (%s) so that all workers compare the same candidates.",
            session.name,
            ", ".join(entry.loss for entry in adopted.search_space),
        )
    adopted.save(run_dir / runfolder.RECOMMENDATION_JSON)
    starts = {c.loss: c.params for c in adopted.candidates}
    return adopted, SearchSpace(adopted.search_space, starting_points=starts)
