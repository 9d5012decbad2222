"""`python -m router.local_engine`: build llama-server into the routetax cache if missing, print its path."""

from router.local_engine.build import main

raise SystemExit(main())
