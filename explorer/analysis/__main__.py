"""Command line: python -m explorer.analysis NAME [--json] | --summary."""
import sys

from explorer.analysis.layers import main

sys.exit(main())
