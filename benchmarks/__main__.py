"""``python -m benchmarks [options]`` — see ``--help`` and benchmarks/README.md."""

from benchmarks.cli import main

raise SystemExit(main())
