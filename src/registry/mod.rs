//! Registry client (filled by the registry work).
