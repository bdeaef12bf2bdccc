//! Ping-pong between ranks 0 and 1: the one-way time of a message of `n` bytes, for the
//! cost model of a lattice split in row strips (ARCHITECTURE.md, "MPI").
//!
//! `mpirun -np 2 target/release/examples/mpi_pingpong` prints, per size, the mean one-way
//! time (half the round trip, averaged over many round trips) and the bandwidth.

use std::time::Instant;

use mpi::traits::*;

fn main() {
    let universe = mpi::initialize().expect("MPI initialises");
    let world = universe.world();
    if world.size() != 2 {
        eprintln!("error: run on exactly 2 ranks (mpirun -np 2)");
        std::process::exit(1);
    }
    let rank = world.rank();
    let other = world.process_at_rank(1 - rank);
    if rank == 0 {
        println!("{:>10} {:>12} {:>12}", "bytes", "one-way µs", "MB/s");
    }
    for shift in (3..=23).step_by(2) {
        let n = 1usize << shift;
        let mut buf = vec![0u8; n];
        let reps = (200_000_000 / (n + 20_000)).clamp(20, 20_000);
        // Warm-up round trips, then the timed ones.
        for round in 0..2 {
            let count = if round == 0 { reps / 10 + 1 } else { reps };
            world.barrier();
            let start = Instant::now();
            for _ in 0..count {
                if rank == 0 {
                    other.send(&buf[..]);
                    other.receive_into(&mut buf[..]);
                } else {
                    other.receive_into(&mut buf[..]);
                    other.send(&buf[..]);
                }
            }
            let one_way = start.elapsed().as_secs_f64() / (2 * count) as f64;
            if round == 1 && rank == 0 {
                println!("{n:>10} {:>12.3} {:>12.1}", one_way * 1e6, n as f64 / one_way / 1e6);
            }
        }
    }
}
