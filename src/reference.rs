//! Image references (filled by the registry work).
