"""`python -m cli`: the `routetax` command without the installed script."""

from cli.main import main

raise SystemExit(main())
