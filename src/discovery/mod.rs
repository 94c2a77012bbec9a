//! LAN discovery (SPEC §4), the parts without I/O: the beacon format, which interfaces
//! to use, and which beacons to pass on. The thread that sends and listens comes next.

pub mod beacon;
pub mod ifaces;
pub mod reports;
