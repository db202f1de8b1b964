pub(crate) mod arena;
pub(crate) mod bootstrap;
pub(crate) mod huge;
pub(crate) mod pagemap;
pub(crate) mod purge_state;
