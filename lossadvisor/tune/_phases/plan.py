"""Phase ``plan``: read the data, advise, fix every setting and check the study, writing nothing.

Everything a run could be refused for (other data, other settings, a bad storage URL, a model that fails, a
busy folder) is found here, before the first write, so a refused run leaves a finished folder exactly as it
was.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from pathlib import Path

from lossadvisor import runfolder
from lossadvisor._text import display_path
from lossadvisor.errors import ConfigError
from lossadvisor.tune._options import TuneOptions
from lossadvisor.tune._phases import advise as advise_phase
from lossadvisor.tune._phases import profile as profile_phase
from lossadvisor.tune._phases._context import TuneContext
from lossadvisor.tune.confirm import CONFIRM_STEP_FACTOR, parse_time_budget
from lossadvisor.tune.data import (
    build_train_data,
    build_volume_train_data,
    check_class_values,
    check_crop,
    check_fold_count,
    tile_count,
    train_data_from_memory,
)
from lossadvisor.tune.study import (
    DEFAULT_STUDY_NAME,
    STUDY_DB,
    check_study,
    default_storage_url,
    hold_folder,
    open_storage,
    redact_url,
    stored_settings,
)
from lossadvisor.tune.training import (
    DEFAULT_RECIPE,
    LEGACY_RECIPE,
    TrainingRecipe,
    check_model,
    check_step_memory,
    for_volumes,
    resolve_device,
)

logger = logging.getLogger("lossadvisor.tune._api")  # tune's logger, as before the phases were split out

MIN_STEPS_PER_EPOCH = 20
RECIPE_KEY = "training_recipe"
BATCH_SIZE_TILES = 8
BATCH_SIZE_VOLUMES = 2  # patches per batch, nnU-Net's 3-D default


def loss_factory(ignore_index: int | None) -> Callable:
    """``(name, params) -> loss``, with ``ignore_index`` given to every loss that takes one."""
    from lossadvisor.losses import build_loss, get_spec

    def factory(name: str, params: dict):
        params = dict(params)
        if ignore_index is not None and any(p.name == "ignore_index" for p in get_spec(name).params):
            params.setdefault("ignore_index", ignore_index)
        return build_loss(name, **params)

    return factory


def plan(
    opts: TuneOptions,
    *,
    train,
    val,
    spec,
    progress: bool,
    command: str | None,
    make_loss: Callable = loss_factory,
) -> TuneContext:
    """Read and profile the data, advise, resolve device and model, decode the search split, and settle every
    setting of the run (the options were checked when their record was made)."""
    from lossadvisor.io import DEFAULT_IGNORE_INDEX, read_mask, resolve_class_map
    from lossadvisor.profile import default_run_dir

    size, crop, ignore_index = opts.size, opts.crop, opts.ignore_index
    side = crop or size or advise_phase.DEFAULT_SIZE
    cmap = resolve_class_map(opts.class_map)
    # Pixels a class map marks void/ignore come back as DEFAULT_IGNORE_INDEX (as in the profile); training
    # must ignore the same pixels, or the loss sees 255 as a class index.
    train_ignore = ignore_index
    if train_ignore is None and cmap is not None and cmap.ignore_keys:
        train_ignore = DEFAULT_IGNORE_INDEX
    source = profile_phase.read_data(
        opts.images, opts.masks, train=train, val=val, out=opts.out, side=side, cmap=cmap,
        ignore_index=ignore_index, progress=progress, max_pixels=opts.max_pixels, crop=crop,
    )  # fmt: skip
    profile = source.profile
    run_dir = Path(opts.out) if opts.out is not None else Path(default_run_dir(source.masks))
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"The 'out' option of tune must be a folder; {display_path(run_dir)} is a file.")
    if run_dir.is_dir():
        hold_folder(run_dir)  # one process per run folder: a second one is refused before any write
    rec, base_space = advise_phase.advise(profile, opts.rules_config, opts.objective)
    volumes = source.volumes is not None
    if opts.batch_size is None:
        opts = dataclasses.replace(opts, batch_size=BATCH_SIZE_VOLUMES if volumes else BATCH_SIZE_TILES)
    size_switch = None
    choice = resolve_device(opts.device, threads=opts.threads)
    if size is None and crop is None and not volumes:
        multiple = spec.side_multiple or advise_phase.SIDE_MULTIPLE
        cap = advise_phase.CPU_MAX_SWITCH_SIZE if choice.name == "cpu" else None
        size_switch = advise_phase.follow_size_advice(profile, rec, multiple=multiple, max_size=cap)
        if size_switch is not None:
            size, crop = size_switch["size"], size_switch["crop"]
            side = crop or size
            logger.warning("%s", size_switch["message"])
    size = size or advise_phase.DEFAULT_SIZE
    # Checked against the data before the model's first forward pass: nothing here has trained or written.
    if not volumes:  # a volume patch is padded up to, never refused by, a small case
        check_crop(profile, crop)
    if cmap is None:
        check_class_values(profile)
    readable = profile.files_read
    if source.pairing is not None:
        readable = min(readable, len(source.pairing.pairs))
    check_fold_count(readable, opts.folds)  # an upper bound on the usable pairs; the decoded count: below
    num_classes = max(2, profile.num_classes)
    out_channels = 1 if num_classes == 2 else num_classes
    data_settings = {"class_map": cmap.digest() if cmap is not None else None}
    if volumes:  # decoded before the model check, which needs their patch
        data, read, spec = _volume_data(source, spec, crop=crop, run_dir=run_dir, seed=opts.seed,
                                        ignore_index=ignore_index, train_ignore=train_ignore,
                                        max_pixels=opts.max_pixels, data_settings=data_settings)  # fmt: skip
    else:

        def read(p):
            return read_mask(p, class_map=cmap, ignore_index=ignore_index, max_pixels=opts.max_pixels).labels

        option = f"--crop {crop}" if crop else f"--size {size}"
        check_step_memory(
            spec.factory, in_channels=source.channels, out_channels=out_channels, side=side,
            batch=opts.batch_size, device=choice.name, option=option,
        )  # fmt: skip
    model_info = check_model(
        spec,
        in_channels=source.channels,
        out_channels=out_channels,
        side=side,
        device=choice.name,
        patch=data.patch if volumes else None,
    )
    if source.in_memory is not None:
        data = train_data_from_memory(
            *source.in_memory, size=size, crop=crop, seed=opts.seed, ignore_index=train_ignore
        )
    elif not volumes:
        data = build_train_data(
            source.pairing.pairs,
            read_mask=read,
            cache_dir=run_dir / runfolder.CACHE_DIR,
            fingerprint=profile.fingerprint,
            size=size,
            crop=crop,
            seed=opts.seed,
            ignore_index=train_ignore,
            key_settings=data_settings,
            save=False,
        )
    check_fold_count(tile_count(data), opts.folds)
    per_pass = math.ceil(len(data.train_images) / opts.batch_size)
    steps = opts.steps_per_epoch or max(MIN_STEPS_PER_EPOCH, per_pass)
    storage = opts.storage
    storage_url = storage or default_storage_url(run_dir)
    storage_label = redact_url(storage) if storage else display_path(run_dir / STUDY_DB)
    name = opts.study_name or DEFAULT_STUDY_NAME
    recipe, recorded = study_recipe(storage, run_dir, storage_url, storage_label, name)
    # run.json's settings: every option as this run resolved it, and what the run derived besides
    resolved = dataclasses.replace(
        opts,
        images=display_path(source.images) if source.images is not None else None,
        masks=display_path(source.masks) if source.masks is not None else None,
        out=display_path(run_dir),
        size=size,
        crop=crop,
        steps_per_epoch=steps,
        study_name=name,
        model=model_info.name,
        class_map=display_path(opts.class_map) if isinstance(opts.class_map, (str, Path)) else None,
        rules_config=display_path(opts.rules_config) if opts.rules_config else None,
    )
    time_budget = parse_time_budget(opts.time_budget, device=choice.name)
    settings = resolved.to_dict() | {
        "data": source.description,
        "time_budget_s": time_budget.seconds,  # --time-budget as resolved for the device
        "confirm_step_factor": CONFIRM_STEP_FACTOR,
        "size_switch": size_switch,
        RECIPE_KEY: recipe.to_dict(),
    }
    if volumes:
        settings |= {"patch": list(data.patch), "spacing": "native"}
    objective_settings = {k: settings[k] for k in TuneOptions.objective_names()} | {
        "confirm_step_factor": CONFIRM_STEP_FACTOR,
        **({RECIPE_KEY: recipe.to_dict()} if recorded else {}),  # a study older than the recipe has none
        "model": model_info.name,
        "model_parameters": model_info.parameters,
    }
    if opts.objective == "iou":  # what every study was scored by before --objective: those stay resumable
        objective_settings.pop("objective")
    return TuneContext(
        options=opts, run_dir=run_dir, source=source, rec=rec, base_space=base_space, spec=spec,
        model_info=model_info, device=choice, data=data, read_mask=read, loss_factory=make_loss(train_ignore),
        data_settings=data_settings, size=size, crop=crop, size_switch=size_switch, num_classes=num_classes,
        steps=steps, train_ignore=train_ignore, storage_url=storage_url, storage_label=storage_label,
        name=name, settings=settings, objective_settings=objective_settings, command=command,
        progress=progress, recipe=recipe, time_budget=time_budget,
    )  # fmt: skip


def study_recipe(
    storage, run_dir: Path, storage_url: str, storage_label: str, name: str
) -> tuple[TrainingRecipe, bool]:
    """The training recipe this run trains with, and whether the study records it (so it is one of the
    objective settings a resume is checked against): the one its study was made with, so a resumed or joined
    study never mixes runs of two recipes; :data:`DEFAULT_RECIPE` for a new study; :data:`LEGACY_RECIPE` (the
    last step's weights validated, uniform crops), not recorded, for a study made before the recipe was
    stored. Reads only."""
    if storage is None and not (run_dir / STUDY_DB).is_file():
        return DEFAULT_RECIPE, True
    stored = stored_settings(open_storage(storage_url, label=storage_label), study_name=name)
    if stored is None:
        return DEFAULT_RECIPE, True
    if RECIPE_KEY in stored:
        return TrainingRecipe.from_dict(stored[RECIPE_KEY]), True
    logger.warning(
        "Study %r in %s was made before the training recipe was recorded; it goes on with the recipe its "
        "runs were trained with (the last step's weights validated, uniform crops), so old and new runs stay "
        "comparable. Use another --out folder or --study name for the steadier default recipe.",
        name,
        storage_label,
    )
    return LEGACY_RECIPE, False


def _volume_data(source, spec, *, crop, run_dir, seed, ignore_index, train_ignore, max_pixels, data_settings):
    """The search split of 3-D cases, the label reader and the model spec that builds the 3-D network."""
    from lossadvisor.io import read_volume

    def read(p):
        return read_volume(p, ignore_index=ignore_index, max_voxels=max_pixels).labels

    data = build_volume_train_data(
        list(source.volumes.pairs), read_label=read, cache_dir=run_dir / runfolder.CACHE_DIR,
        fingerprint=source.profile.fingerprint, crop=crop, patch=profiled_patch(source.profile), seed=seed,
        ignore_index=train_ignore, key_settings=data_settings, save=False,
    )  # fmt: skip
    return data, read, for_volumes(spec)


def profiled_patch(profile) -> tuple[int, ...] | None:
    """The training patch the profile measured its empty-patch shares at (volumes), so both agree."""
    volume = getattr(profile, "volume", None)
    return tuple(volume.patch_size) if volume is not None else None


def refuse_mismatch(tc: TuneContext) -> None:
    """Refuse a study (shared, or the run folder's own) made from other data or settings; writes nothing."""
    if tc.options.storage is not None or (tc.run_dir / STUDY_DB).is_file():
        rdb = open_storage(tc.storage_url, label=tc.storage_label)
        check_study(
            rdb,
            study_name=tc.name,
            fingerprint=tc.profile.fingerprint,
            objective_settings=tc.objective_settings,
            storage_label=tc.storage_label,
        )
