//! Folders of cases for the batch verbs: the library's ([`ctplan_io::cases`]) under the names
//! the verbs import.

pub use ctplan_io::cases::{create_output_dir, remove_created, volumes_in};
