"""Which network the trials train: a named preset, a ``MODULE:CALLABLE`` spec, or a callable.

A loss that wins on the compact U-Net may not win on the network a team actually trains, so ``tune`` takes the
model the same way uvicorn takes an app: ``mynet:build`` (a module importable from the current folder) or
``./mynet.py:build`` (a file), called as ``build(in_channels, num_classes)`` and returning an ``nn.Module``
whose output is logits ``(N, C, H, W)``. Presets name models that install beside torch: ``compact`` (the
package's :class:`~lossadvisor.tune.CompactUNet`, the default), ``monai-unet`` and ``monai-segresnet``
(``pip install 'lossadvisor[monai]'``).

On volumes the presets are their 3-D versions, and a factory that takes a ``spatial_dims`` keyword (as MONAI's
networks do) is called as ``build(in_channels, num_classes, spatial_dims=3)``; one without it is called as
before and must return a 3-D network itself (:func:`for_volumes`).

Every model is built and run once on a small batch by :func:`check_model` before the study starts, so an
import error, a forward that raises or a wrong output shape is refused before anything is written, with the
model's name, the input tried and what came out.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lossadvisor._messages import unknown_name_message
from lossadvisor.errors import ConfigError

DEFAULT_MODEL = "compact"
CHECK_BATCH = 2  # two images: a model with BatchNorm in train mode needs more than one per channel


class ModelError(ConfigError):
    """A ``--model`` cannot be imported, built or run, or its output is not logits ``(N, C, H, W)``."""


def _compact(in_channels: int, num_classes: int, spatial_dims: int = 2):
    from lossadvisor.tune.training._unet import CompactUNet

    return CompactUNet(in_channels, num_classes, spatial_dims=spatial_dims)


def _monai():
    try:
        from monai.networks import nets
    except ImportError:
        raise ModelError(
            "The MONAI presets need MONAI, which is not installed. Install it with "
            "`pip install 'lossadvisor[monai]'` (or `pip install monai`), or use --model compact."
        ) from None
    return nets


def _monai_unet(in_channels: int, num_classes: int, spatial_dims: int = 2):
    """MONAI's residual ``UNet`` as its tutorials configure it (widths 16-256, two residual units), 2-D or 3-D
    (the 3-D spleen tutorial's network, with instance norm there as in MONAI's 3-D examples)."""
    return _monai().UNet(
        spatial_dims=spatial_dims,
        in_channels=in_channels,
        out_channels=num_classes,
        channels=(16, 32, 64, 128, 256),
        strides=(2, 2, 2, 2),
        num_res_units=2,
        norm="batch" if spatial_dims == 2 else "instance",
    )


def _monai_segresnet(in_channels: int, num_classes: int, spatial_dims: int = 2):
    """MONAI's ``SegResNet`` (Myronenko 2018) with its default blocks and 16 initial filters, 2-D or 3-D."""
    return _monai().SegResNet(
        spatial_dims=spatial_dims, in_channels=in_channels, out_channels=num_classes, init_filters=16
    )


# name -> (factory, side multiple the network needs, what it is)
PRESETS: dict[str, tuple[Callable, int, str]] = {
    "compact": (_compact, 16, "lossadvisor's compact U-Net (widths 16-128, stride-2 stem)"),
    "monai-unet": (_monai_unet, 16, "MONAI UNet, 2-D, channels 16-256, strides 2, 2 residual units"),
    "monai-segresnet": (_monai_segresnet, 8, "MONAI SegResNet, 2-D, 16 initial filters"),
}


@dataclass(frozen=True)
class ModelSpec:
    """A resolved model: its printable name and the factory ``(in_channels, num_classes) -> nn.Module``."""

    name: str  # the preset name, the ``MODULE:CALLABLE`` as given, or ``module:qualname`` of a callable
    factory: Callable
    side_multiple: int | None = None  # known for presets: sides must be divisible by it

    @property
    def is_preset(self) -> bool:
        return self.name in PRESETS


@dataclass(frozen=True)
class ModelInfo:
    """What run.json, result.json, the report and the study fingerprint record about the model."""

    name: str
    parameters: int  # trainable parameters at this dataset's channels and classes

    def to_dict(self) -> dict:
        return {"name": self.name, "parameters": self.parameters}


def resolve_model(model: str | Callable | None) -> ModelSpec:
    """A :class:`ModelSpec` from a preset name, a ``MODULE:CALLABLE`` string or a callable.

    Args:
        model: ``None`` or ``"compact"`` (default), ``"monai-unet"``, ``"monai-segresnet"``,
            ``"package.module:build"`` (importable from the current folder), ``"./mynet.py:build"`` (a file;
            the attribute may be dotted, ``mod:Factory.create``), or a callable
            ``(in_channels, num_classes) -> nn.Module``.

    Raises:
        ModelError: Unknown preset, a module that fails to import, a missing or non-callable attribute.

    Example:
        >>> resolve_model("compact").name
        'compact'
    """
    if model is None:
        model = DEFAULT_MODEL
    if callable(model):
        module = getattr(model, "__module__", None) or "?"
        qualname = getattr(model, "__qualname__", None) or type(model).__qualname__
        return ModelSpec(name=f"{module}:{qualname}", factory=model)
    if not isinstance(model, str) or not model.strip():
        raise ModelError(
            f"The 'model' option of tune must be a preset name ({', '.join(PRESETS)}), a 'MODULE:CALLABLE' "
            f"string or a callable; got {model!r}."
        )
    model = model.strip()
    if model in PRESETS:
        factory, multiple, _ = PRESETS[model]
        return ModelSpec(name=model, factory=factory, side_multiple=multiple)
    module_part, sep, attr = model.rpartition(":")
    if not sep or not module_part or not attr:
        raise ModelError(
            unknown_name_message("model", model, list(PRESETS))
            + " Or give your own as MODULE:CALLABLE, e.g. mynet:build or ./mynet.py:build."
        )
    return ModelSpec(name=model, factory=_import_callable(model, module_part, attr))


def _import_callable(spec: str, module_part: str, attr: str) -> Callable:
    module = _import_module(spec, module_part)
    target = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ModelError(
                f"Model {spec!r}: module {module_part!r} has no attribute {attr!r}. Give the name of a "
                f"function or class defined in it, e.g. {module_part}:build."
            ) from None
    if not callable(target):
        raise ModelError(
            f"Model {spec!r}: {attr!r} is a {type(target).__name__}, not a callable. It must be called as "
            f"{attr}(in_channels, num_classes) and return an nn.Module."
        )
    return target


def _looks_like_path(module_part: str) -> bool:
    return module_part.endswith(".py") or "/" in module_part or os.sep in module_part


def _import_module(spec: str, module_part: str):
    """Import a module by name (the current folder first on the path, as uvicorn does) or from a .py file."""
    try:
        if _looks_like_path(module_part):
            path = Path(module_part)
            if not path.is_file():
                raise ModelError(
                    f"Model {spec!r}: the file {module_part} does not exist (looked in {Path.cwd().name}/). "
                    f"Give a path to a .py file, or a module name importable from the current folder."
                )
            folder = str(path.resolve().parent)
            if folder not in sys.path:
                sys.path.insert(0, folder)  # so the file can import its neighbours
            name = f"_lossadvisor_model_{path.stem}"
            module_spec = importlib.util.spec_from_file_location(name, path)
            if module_spec is None or module_spec.loader is None:
                raise ModelError(f"Model {spec!r}: {module_part} cannot be loaded as a Python module.")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module
            module_spec.loader.exec_module(module)
            return module
        cwd = os.getcwd()
        if cwd not in sys.path:
            sys.path.insert(0, cwd)
        return importlib.import_module(module_part)
    except ModelError:
        raise
    except Exception as exc:  # ImportError, SyntaxError, or anything the module raises at import time
        raise ModelError(
            f"Model {spec!r}: importing {module_part!r} failed: {type(exc).__name__}: {exc}. The module must "
            f"be importable from the current folder ({Path.cwd().name}/), or give a path such as "
            f"./mynet.py:build."
        ) from None


def for_volumes(spec: ModelSpec) -> ModelSpec:
    """The spec whose factory builds the 3-D network: ``factory(c, k, spatial_dims=3)`` when it takes the
    keyword (the presets, MONAI-style builders, ``**kwargs``), the factory itself otherwise."""
    import functools
    import inspect

    try:
        parameters = inspect.signature(spec.factory).parameters.values()
    except (TypeError, ValueError):  # a builtin or C callable: no signature to read
        return spec
    takes = any(p.name == "spatial_dims" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    if not takes:
        return spec
    return ModelSpec(
        name=spec.name,
        factory=functools.partial(spec.factory, spatial_dims=3),
        side_multiple=spec.side_multiple,
    )


def check_model(
    spec: ModelSpec,
    *,
    in_channels: int,
    out_channels: int,
    side: int,
    device: str,
    patch: tuple[int, ...] | None = None,
) -> ModelInfo:
    """Build the model and run one small batch through it; refuse it unless it gives ``(N, C, H, W)`` logits.

    Run before the study starts, so a bad model costs a second, not a run folder full of failed trials.

    Args:
        spec: The resolved model.
        in_channels: Image channels of the data.
        out_channels: 1 for binary (sigmoid), the number of classes otherwise.
        side: Tile side the trials train on.
        device: Torch device name.
        patch: Volumes: the ``(D, H, W)`` training patch, tried instead of ``side x side`` tiles (the output
            must then be ``(N, C, D, H, W)``).

    Raises:
        ModelError: Building fails, the forward raises, or the output is not a tensor of the expected shape.
    """
    import torch

    spatial = tuple(patch) if patch is not None else (side, side)
    shape = (CHECK_BATCH, in_channels, *spatial)
    expected = (CHECK_BATCH, out_channels, *spatial)
    axes = "(N, C, D, H, W)" if patch is not None else "(N, C, H, W)"
    tried = f"input {tuple(shape)}"
    try:
        model = spec.factory(in_channels, out_channels)
    except Exception as exc:
        raise ModelError(
            f"Model {spec.name!r}: calling it as ({in_channels}, {out_channels}) [in_channels, num_classes] "
            f"raised {type(exc).__name__}: {exc}."
        ) from None
    if not isinstance(model, torch.nn.Module):
        raise ModelError(
            f"Model {spec.name!r}: called as ({in_channels}, {out_channels}) it returned a "
            f"{type(model).__name__}, not a torch.nn.Module."
        )
    parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    try:
        model = model.to(device)
        model.eval()
        with torch.no_grad():
            out = model(torch.zeros(shape, device=device))
    except Exception as exc:
        hint = (
            f" This preset needs sides divisible by {spec.side_multiple}."
            if spec.side_multiple and any(s % spec.side_multiple for s in spatial)
            else ""
        )
        raise ModelError(
            f"Model {spec.name!r}: the forward pass on {tried} raised {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}.{hint}"
        ) from None
    if not isinstance(out, torch.Tensor):
        raise ModelError(
            f"Model {spec.name!r}: on {tried} it returned a {type(out).__name__}; expected one tensor of "
            f"logits {expected} {axes}. Wrap a model that returns a dict or tuple so forward returns "
            f"the logits only."
        )
    if tuple(out.shape) != expected:
        raise ModelError(
            f"Model {spec.name!r}: on {tried} it returned shape {tuple(out.shape)}; expected logits "
            f"{expected} {axes} with C = {out_channels} "
            f"({'one sigmoid channel for binary masks' if out_channels == 1 else 'one channel per class'}) "
            f"and the input's {'depth, height and width' if patch is not None else 'height and width'}."
            + (" For volumes, accept a spatial_dims keyword (called with 3) or build a 3-D network."
               if patch is not None else "")
        )
    if not torch.is_floating_point(out):
        raise ModelError(
            f"Model {spec.name!r}: on {tried} it returned {out.dtype} values; expected float logits."
        )
    return ModelInfo(name=spec.name, parameters=int(parameters))
