"""The activation campaign report and reminders (issue 13, section 2), without Flask.

* ``campaign``: a state's go-live, deadline and reminder pace (values file ``[campaign]``).
* ``summary``: the numbers, from one pass over a realm's users (pure).
* ``service``: ``ActivationReport``, the summary kept in the shared state with its age.
* ``tables``, ``chart``: the tables (and CSV) and the SVG chart of a summary (pure).
* ``remind``: remind pending users, once a day each, paced, audited.
* ``wiring``: build the above from ``Settings`` (the CLI; a console page later).
"""
