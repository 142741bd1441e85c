"""``safetylens human ...``: the human-evaluation platform from the command line.

``init`` creates or upgrades the database and ``serve`` runs the web app (:mod:`.server`);
``add-user``/``users``/``set-user`` manage accounts (:mod:`.users`); ``study ...`` manages studies
(create, list, show, raters, guidelines, status; :mod:`.studies`); ``import``/``generate`` bring in
responses (:mod:`.imports`, keeping a scored safety run's harm judge verdicts); ``results`` prints
violation %, win rates, the harm judge beside people, IRR and rater statistics (:mod:`.results`);
``export``/``export-preferences`` write ratings and preference pairs
(:mod:`.export`); ``quiz ...``, ``checks``, ``quality``, ``audit export`` and ``edit-rating`` look
after rating quality (:mod:`.quality`); ``redteam ...`` runs red-team campaigns (:mod:`.redteam`).

Every command takes ``--db`` (a SQLite path or a ``postgresql://`` URL; default
``$SAFETYLENS_HUMAN_DB`` or ``~/.cache/safetylens/human.sqlite``).
"""

from __future__ import annotations

import importlib

from safetylens.cli import app
from safetylens.cli.human.common import human_app

app.add_typer(human_app, name="human")

# Each module registers its commands on `human_app` when imported; `--help` lists them in this order.
COMMAND_MODULES = ("server", "users", "studies", "imports", "results", "export", "quality", "redteam")
for _name in COMMAND_MODULES:
    importlib.import_module(f"{__name__}.{_name}")
