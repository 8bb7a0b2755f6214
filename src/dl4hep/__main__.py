"""``python -m dl4hep`` is the ``dl4hep`` command."""

import sys

from dl4hep.cli import main

sys.exit(main())
