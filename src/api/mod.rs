pub(crate) mod alloc;
