//! Network backends (filled by the userns/system work).
