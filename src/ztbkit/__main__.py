"""``python -m ztbkit`` is the ``ztb`` command."""

from ztbkit.cli import main

if __name__ == "__main__":
    main()
