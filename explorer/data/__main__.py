"""Command line: python -m explorer.data where|fetch|manifest."""
import sys

from explorer.data import main

sys.exit(main())
