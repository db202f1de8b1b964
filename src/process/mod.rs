pub(crate) mod foreign;
pub(crate) mod init;
pub(crate) mod purger;
pub(crate) mod stats;
