"""``python -m grading``: see :mod:`grading.cli`."""
from grading.cli import main

raise SystemExit(main())
