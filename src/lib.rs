//! recproc: turns the raw media of a recorded conference (Janus `.mjr` video tracks and the
//! audiomixer's WAV) into finished recording files, as `../shared/SPEC.md` describes.
//!
//! The pure core (`plan`, `names`, the event's wire checks, the argument builders in
//! `media`, the ack policy) does no I/O; the edges (`event`'s path resolution, `process`,
//! `pipeline`, `job`, `ledger`, `amqp`, `serve`) run tools, touch files, talk to the broker and
//! answer Prometheus and the probes (`metrics` holds what they report). Only
//! what the `recproc` binary, the tests and the benches use is public.

pub mod amqp;
pub mod config;
mod event;
pub mod job;
pub mod ledger;
pub mod logs;
pub mod media;
pub mod metrics;
mod names;
pub mod pipeline;
mod plan;
pub mod policy;
mod process;
pub mod recipient;
mod report;
pub mod serve;
pub mod signal;
pub mod timestamp;
