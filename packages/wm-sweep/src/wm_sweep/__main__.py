import sys

from wm_sweep.cli import main

sys.exit(main())
