"""Command line: python -m explorer.attribution sanity|faithfulness --model M --images DIR."""
import sys

from explorer.attribution.trust_cli import main

sys.exit(main())
