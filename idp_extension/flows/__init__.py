"""The self-service flows, without Flask: what the sidecar's pages and the CLI decide.

Two levels. The flows are peers and never import one another: ``activation``
(emailed link), ``first_login`` (temporary password), ``recovery`` (forgotten
password), ``settings`` (security settings after a sign-in) and ``site_key`` (the login
page's phrase and image). What they share is the shared level: ``common`` (form and
link errors, ID rules), ``emailed_link`` (link requests and sending), ``identifiers``
(login IDs, emails), ``phrases`` (secret phrase and image rules), ``answers``
(security questions), ``password_rules``, ``tokens`` (signed links), ``notifications``
("was this you?" emails), ``phrase_decoys``, ``texts`` (the sentences, from
``data/messages/<locale>.json``) and ``ports`` (directory, mail, clock, claims,
background work, page URLs). ``tests/unit/test_package_shape.py`` keeps it so.
"""
