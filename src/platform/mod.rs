pub(crate) mod config;
pub(crate) mod counters;
pub(crate) mod diag;
pub(crate) mod errno;
pub(crate) mod list;
pub(crate) mod os;
pub(crate) mod sync;
