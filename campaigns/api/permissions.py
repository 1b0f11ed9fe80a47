"""Who may do what over the API: the admin's model permissions, plus one per action.

A staff user needs `view_<model>` to read, `add_`/`change_`/`delete_` to write, and each
custom action (schedule, approve, erase, import, ...) names its own permission in the
view's `action_permissions`. An action that names none is refused: a new endpoint cannot
slip out unguarded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.permissions import DjangoModelPermissions

if TYPE_CHECKING:  # rest_framework.views imports this module while it loads
    from rest_framework.request import Request
    from rest_framework.views import APIView

# Reads and writes per HTTP method, as in the admin (DRF's default lets any staff user read).
_BY_METHOD = {
    "GET": ["%(app_label)s.view_%(model_name)s"],
    "OPTIONS": [],
    "HEAD": ["%(app_label)s.view_%(model_name)s"],
    "POST": ["%(app_label)s.add_%(model_name)s"],
    "PUT": ["%(app_label)s.change_%(model_name)s"],
    "PATCH": ["%(app_label)s.change_%(model_name)s"],
    "DELETE": ["%(app_label)s.delete_%(model_name)s"],
}
_STANDARD_ACTIONS = {"list", "retrieve", "create", "update", "partial_update", "destroy", "metadata", None}


class StaffModelPermissions(DjangoModelPermissions):
    """Active staff only, with the model permission the admin would ask for."""

    perms_map = _BY_METHOD

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active and user.is_staff):
            return False
        if not hasattr(view, request.method.lower()):
            return True  # the view answers 405 Method Not Allowed, which says more than 403
        declared = getattr(view, "action_permissions", {})
        action = getattr(view, "action", None)
        if action in declared:
            return user.has_perms(declared[action])
        if action not in _STANDARD_ACTIONS:
            return False  # a custom action that declares nothing is nobody's
        if getattr(view, "queryset", None) is None and not hasattr(view, "get_queryset"):
            return False
        return super().has_permission(request, view)


class ActionPermissions(StaffModelPermissions):
    """For plain APIViews: `required_permissions` per HTTP method, nothing else."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active and user.is_staff):
            return False
        if not hasattr(view, request.method.lower()):
            return True  # the view answers 405 Method Not Allowed, as above
        needed = getattr(view, "required_permissions", {}).get(request.method)
        return needed is not None and user.has_perms(needed)
