"""``python -m rackshop`` runs the CLI."""

from rackshop.cli import main

if __name__ == "__main__":
    main()
