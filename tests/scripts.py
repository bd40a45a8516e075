"""Trainee lines the tests (and bench/recognition.py) play in the traffic stop, in one place."""

from __future__ import annotations

# A model stop: greeting and name, the true reason first, empathy, what happens next, a courteous close.
COURTEOUS = [
    "Good evening, ma'am. I'm Officer Smith with the Metro Police Department.",
    "The reason I pulled you over is that your registration tag expired in July.",
    "I understand, a twelve-hour shift is exhausting. I appreciate your patience.",
    "I'm going to write you a warning today. It will take about five minutes, and you can renew online tonight.",
    "Thank you for your patience, ma'am. Drive safe and get home safe.",
]
# Curt, then a threat: the driver escalates.
RUDE = ["License and registration.", "Don't argue with me. Give me your license.", "Keep talking and you're going to jail."]
