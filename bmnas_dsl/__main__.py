import sys

from bmnas_dsl.cli.main import main

sys.exit(main())
