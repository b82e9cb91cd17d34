//! recproc: turns the raw media of a recorded conference (Janus `.mjr` video tracks and the
//! audiomixer's WAV) into finished recording files, as `../shared/SPEC.md` describes.
//!
//! The pure core (`event`, `names`, `plan`, the argument builders in `media`) does no I/O;
//! the edges (`process`, `pipeline`, `job`) run tools and touch files.

pub mod amqp;
pub mod config;
pub mod event;
pub mod job;
pub mod ledger;
pub mod media;
pub mod names;
pub mod pipeline;
pub mod plan;
pub mod process;
pub mod recipient;
pub mod report;
pub mod signal;
pub mod timestamp;
