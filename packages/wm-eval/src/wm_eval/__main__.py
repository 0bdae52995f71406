"""``python -m wm_eval`` = ``wm-eval``."""

import sys

from wm_eval.cli import main

sys.exit(main())
