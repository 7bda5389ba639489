import sys

from uqviz.cli import main

sys.exit(main())
