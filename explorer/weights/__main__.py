"""Command line: python -m explorer.weights list|fetch."""
import sys

from explorer.weights.overview import main

sys.exit(main())
