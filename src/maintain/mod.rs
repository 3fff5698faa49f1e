//! Operations that keep an archive's index and store in step: `index rebuild` (the index
//! replayed from the store alone) and `repair` (interrupted writes removed, orphan packs
//! adopted or removed) and the recovery of interrupted work every writing command runs first. They work on a whole [`crate::archive::Archive`], so they live above
//! it, not inside `index` (which `archive` itself uses).

pub mod rebuild;
pub mod recover;
pub mod repair;
