"""The one authentication backend: django-axes' lockout check, then Django's own.

One backend rather than axes' and Django's side by side: code that asks which
users hold a permission (`User.objects.with_perm`, the approver lists) needs a
single backend to ask, and the lockout check and the password check stay in
one place. Like axes' own backend it needs the request: tests log in with
`force_login`.
"""
from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from django.contrib.auth.backends import ModelBackend


class LockoutModelBackend(AxesStandaloneBackend, ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        # Raises (and stops authentication) while this username and address are locked out.
        AxesStandaloneBackend.authenticate(self, request, username=username, password=password, **kwargs)
        return ModelBackend.authenticate(self, request, username=username, password=password, **kwargs)
