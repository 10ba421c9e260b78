//! User namespaces (filled by the userns work).
