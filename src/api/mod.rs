pub(crate) mod alloc;
pub(crate) mod free;
