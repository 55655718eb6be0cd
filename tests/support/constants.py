"""Values many tests share: synthetic passwords, answers, secrets, the form patterns.

Every value is made up (no real person's data); change one here and every test that
uses it follows.
"""

from __future__ import annotations

import re

from argon2 import PasswordHasher

# A sidecar secret and public URL for unit tests (never a deployment's).
SECRET = "unit-test-secret-key-0123456789abcdef"
PUBLIC_URL = "https://sidecar.example.test"

# Passwords that Keycloak's and the sidecar's rules accept: one set at activation or by
# a test before the flow, one a user chooses in the flow.
OLD_PASSWORD = "Lama#Kata-Laluan1"
NEW_PASSWORD = "Tiga#Ekor-Kucing9"

# Three security questions and their answers, in the order a user picks them.
ANSWERS = [("mother_name", "Siti Aishah"), ("first_car", "Kancil merah"),
           ("favourite_colour", "Hijau")]
# The same answers looked up by question (recovery asks some of them).
ANSWER_TO = dict(ANSWERS)
# The same three as the activation and first-login forms post them.
QUESTIONS_FORM = {field: value for n, (question, answer) in enumerate(ANSWERS, start=1)
                  for field, value in ((f"question_{n}", question), (f"answer_{n}", answer))}

# A secret phrase and gallery image a user chose at first login.
PHRASE, IMAGE = "Pelangi di Bukit Hijau", "hibiscus"

# Cheap parameters, still argon2id: the unit tests hash many answers.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

# The sidecar's CSRF field and Keycloak's login form, as found in their pages.
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LOGIN_FORM = re.compile(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"')
