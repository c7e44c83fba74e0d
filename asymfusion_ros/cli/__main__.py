"""``python -m asymfusion_ros.cli``: the ``asymfusion`` command without its console script."""

import sys

from asymfusion_ros.cli import main

sys.exit(main())
