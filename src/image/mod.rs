//! Image operations: pull, lookup, inspect.
