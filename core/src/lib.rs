//! Waakvlam: deadlines for Dutch youth care.
pub mod calendar;
