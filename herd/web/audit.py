"""``herd web``'s audit log is the shared audit trail of herd/audit.py (the CLI writes to it too).

Kept as a name for the web's users: ``AuditLog`` is :class:`herd.audit.AuditTrail`.
"""

from __future__ import annotations

from herd.audit import AuditFilter, AuditTrail, default_audit_path

AuditLog = AuditTrail

__all__ = ["AuditFilter", "AuditLog", "AuditTrail", "default_audit_path"]
