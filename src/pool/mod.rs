pub(crate) mod decay;
pub(crate) mod large;
pub(crate) mod superslab;
