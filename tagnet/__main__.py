import sys

from tagnet.cli import main

sys.exit(main())
