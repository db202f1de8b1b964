pub(crate) mod arena;
pub(crate) mod bootstrap;
pub(crate) mod huge;
pub(crate) mod pagemap;
