"""The payroll import's pure parts: read the CSV, compare with Keycloak, count the result.

Nothing here talks to Keycloak: ``payroll_csv`` turns a file into valid rows and
rejections, ``plan`` compares rows with the users Keycloak already has, and ``run``
drives a ``BulkUserStore`` (``gateway.bulk_users.BulkUsers`` for real, a fake in unit
tests) and returns the summary. ``ispeks-idp users import`` wires them together.
"""
