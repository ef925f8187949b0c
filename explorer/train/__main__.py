"""Command line: python -m explorer.train --model M --epochs N --data DIR."""
import sys

from explorer.train import main

sys.exit(main())
