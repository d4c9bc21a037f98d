import sys

from aichats_core.cli import main

sys.exit(main())
