"""`python -m gradtx`: the command line (see `gradtx.cli`)."""

from gradtx.cli import main

raise SystemExit(main())
