"""``python -m soma_actor.cli``: the ``soma`` command."""

from . import main

raise SystemExit(main())
