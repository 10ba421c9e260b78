//! Image store (filled by the storage work).
