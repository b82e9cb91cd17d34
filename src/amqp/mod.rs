//! The broker edge of `recproc run`: one named connection per process, the queues recproc
//! declares, publishing with confirms, and the consumer loop. The work itself never touches
//! the broker: a job returns an [`Outcome`](crate::job::Outcome), [`policy`] decides what
//! that means for the message (pure, unit-tested), and [`daemon`] does it.

pub mod connection;
pub mod daemon;
pub mod policy;
pub mod publish;
pub mod topology;
