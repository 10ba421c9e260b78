//! Host checks and info (filled by the userns/system work).
