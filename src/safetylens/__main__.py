"""Entry point for ``python -m safetylens``."""

from safetylens.cli import main

if __name__ == "__main__":
    main()
