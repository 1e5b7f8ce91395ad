"""`python -m gradtx`: the command line, `gradtx.tour.cli`."""

from gradtx.tour.cli import main

raise SystemExit(main())
