pub(crate) mod config;
pub(crate) mod diag;
pub(crate) mod os;
pub(crate) mod sync;
