"""The human platform's hand-written SQL, its audit-log writer and its per-process caches.

- :mod:`~safetylens.human.store.sql`: runs a statement on the DBAPI cursor of SQLAlchemy's
  connection (the rating hot path's way round SQLAlchemy's per-statement cost);
- :mod:`~safetylens.human.store.queries`: every hand-written statement, and the one builder of
  the request-context query;
- :mod:`~safetylens.human.store.audit_log`: :func:`~safetylens.human.store.audit_log.audit`, the
  writer of every audit-log row;
- :mod:`~safetylens.human.store.caps`: the cache of each study's cap inputs and its invalidation.

The modules above it (assignment, gold, studies, auth, audit, api) hold the rules; this package
holds how they reach the database, so none of them needs another's internals.
"""
