"""``python -m blerun``: the ``blerun`` command (see ``blerun --help``)."""

from blerun.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
