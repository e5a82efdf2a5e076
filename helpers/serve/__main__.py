"""``python -m helpers.serve``: the HTTP service on a model (see ``--help``)."""

import sys

from helpers.serve.app import main

sys.exit(main())
