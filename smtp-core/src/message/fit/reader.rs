//! The typed error a body reader carries when a line cannot be fitted.

use std::io;

use super::LongLineError;

/// The [`LongLineError`] an I/O error from the engine's body reader
/// carries, if any.
pub(crate) fn long_line_error(e: &io::Error) -> Option<&LongLineError> {
    e.get_ref()?.downcast_ref::<LongLineError>()
}
