//! How burrow's own processes talk to each other across fork: typed
//! messages over a socket pair ([`channel`]), descriptors passed over unix
//! sockets ([`fdpass`]), and the signals a parent relays to the child it
//! runs for the user ([`signals`]).
//!
//! Low level: it names no other module of burrow, so the user namespace,
//! network and runtime code can all build on it.

pub mod channel;
pub mod fdpass;
pub mod signals;

pub use channel::{Channel, ChannelError};
