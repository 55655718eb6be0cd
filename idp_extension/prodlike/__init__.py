"""The production topology on loopback (``ispeks-idp prod-like up``), from ``deploy/``'s files.

``topology`` starts and stops the whole picture in order; ``services`` holds one class per
server (PostgreSQL, a Keycloak node, Redis, a sidecar, nginx). Used by the command, by
``tests/deploy/`` and by the production benchmarks.
"""
