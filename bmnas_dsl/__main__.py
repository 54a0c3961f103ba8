import sys

from bmnas_dsl.cli import main

sys.exit(main())
