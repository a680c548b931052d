"""``python -m lossadvisor`` runs the same CLI as the ``lossadvisor`` console script."""

from lossadvisor.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
