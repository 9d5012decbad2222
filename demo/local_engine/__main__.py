"""`python -m demo.local_engine`: build llama-server into the routetax cache if missing, print its path."""

from demo.local_engine.build import main

raise SystemExit(main())
