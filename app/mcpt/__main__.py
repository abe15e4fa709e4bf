import sys

from mcpt.cli import main

sys.exit(main())
