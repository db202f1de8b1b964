pub(crate) mod heap;
pub(crate) mod large_span;
pub(crate) mod tls;
