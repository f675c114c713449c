"""``python -m mmaccel.sw`` runs the ``mmaccel`` command line."""

import sys

from .cli import main

sys.exit(main())
