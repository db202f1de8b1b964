pub(crate) mod block;
pub(crate) mod check;
pub(crate) mod remote_free;
pub(crate) mod size_class;
pub(crate) mod span;
