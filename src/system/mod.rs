//! Host checks (`burrow system check`) and host facts (`burrow info`).

pub mod check;
pub mod info;
