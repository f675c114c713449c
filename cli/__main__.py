"""``python -m mmaccel.cli`` runs the ``mmaccel`` command line."""

import sys

from mmaccel.cli import main

sys.exit(main())
