//! containers-registries.conf v2 (filled by the registry work).
