//! What the `distil` command holds that is more than a command: the HTTP server of `distil serve`,
//! with the readers of its request bodies, which the fuzz target (`cli/fuzz`) drives directly.

pub mod server;
