"""The CLI repeats the library defaults so `--help` shows them without importing torch: keep them equal."""

from __future__ import annotations

import inspect

from lossadvisor.cli._tune import tune_command
from lossadvisor.tune import tune


def test_every_cli_default_equals_the_library_default() -> None:
    library = {
        name: p.default
        for name, p in inspect.signature(tune).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    compared = []
    for param in tune_command.params:
        if param.name in library and param.default is not None:
            assert param.default == library[param.name], (
                f"--{param.name.replace('_', '-')} defaults to {param.default!r} in the CLI "
                f"but {library[param.name]!r} in lossadvisor.tune.tune"
            )
            compared.append(param.name)
    # the budget a user relies on is among the compared defaults
    budget = {"epochs", "n_trials", "seeds", "folds", "finalists", "margin", "seed"}
    assert budget <= set(compared)
    # no --size means "128, or what the lost-objects rule asks for", in both
    size = next(p for p in tune_command.params if p.name == "size")
    assert size.default is None and library["size"] is None
    # no --batch-size means "8 tiles, or 2 patches for volumes" (decided once the data are read), in both
    batch = next(p for p in tune_command.params if p.name == "batch_size")
    assert batch.default is None and library["batch_size"] is None
