//! Image operations that combine the registry client and the store: pull, push,
//! lookup by the names users type, removal, and Docker-shaped inspection.

pub mod archive;
pub mod changes;
pub mod commit;
pub mod history;
pub mod import;
pub mod inspect;
pub mod lookup;
pub mod pull;
pub mod push;
pub mod remove;
pub mod write;

pub use lookup::{LookupError, find_image};
pub use pull::{PullError, PullEvent, PullObserver, PullOptions, pull};
pub use push::{PushError, PushEvent, PushObserver, Pushed, push};
