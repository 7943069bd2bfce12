"""``python -m blerun.testing --runs N --seed S``: the chaos campaign (see ``chaos_main``)."""

from blerun.testing._cli import chaos_main

raise SystemExit(chaos_main())
