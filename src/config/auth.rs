//! containers-auth.json lookup (filled by the registry work).
