"""Realms as code: render each state's realm from the templates, plan and apply it.

``render`` turns ``realm-templates/realm.json.j2`` and a state's values into the realm
JSON; ``profile`` declares the user profile (attribute names from ``attributes.py``);
``plan`` compares the rendered realm with a snapshot of Keycloak and lists the changes
and writes (pure); ``apply`` reads the snapshot and runs the plan through
``gateway.realm_admin``.
"""
