"""``python -m cugrad``: the same as the ``cugrad`` command."""
import sys

from .cli import main

sys.exit(main())
