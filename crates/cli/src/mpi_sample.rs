//! `qftml sample` across MPI ranks: chains spread over groups of ranks, each chain on one
//! rank or, with `--ranks-per-chain K`, its lattice split in row strips over `K` ranks.
//!
//! With `R` ranks there are `R/K` groups of `K` consecutive ranks; group `g` runs the
//! consecutive chains of its share, and chain `c` is chain `c` of the one-process run (its
//! own stream `chain_rng(seed, c)`), so the gathered output is bit-identical to one process.
//! A split chain runs checkerboard Metropolis on row strips
//! ([`mc_sampler::metropolis::RowStrip`]) and exchanges one halo row with each neighbour
//! strip before every half sweep; the step is tuned from the group's summed acceptance (an
//! integer sum, exact; after thermalisation the acceptance is summed once, at the end), and
//! every measured configuration is gathered on the group's first
//! rank and measured there, as one process would.  Cluster updates (`cluster`, `sw`,
//! `hybrid`) stay on one rank, and the heat bath draws a variable number of random words per
//! site, so a strip could not know where its words start: `--ranks-per-chain` above 1 needs
//! `--algorithm metropolis`.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use mc_sampler::metropolis::RowStrip;
use mc_sampler::{Algorithm, ChainOutput, RunConfig, RunOutput, Timing, chain_rng, run_chain_range_with};
use mpi::point_to_point as p2p;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use phi4_action::{Couplings, Observables};

use crate::mpi_ranks::{Decoder, Encoder, Ranks, agree_on, share};
use crate::output::progress_bar;
use crate::rundir::Staging;
use crate::sample::{self, SampleArgs};

/// Runs `qftml sample` on every rank; rank 0 prints and writes.
pub fn run(ranks: &Ranks, args: &SampleArgs) -> Result<()> {
    let resolved = ranks.agree(sample::resolve(args))?;
    let per_chain = args.ranks_per_chain.unwrap_or(1);
    ranks.agree(check_layout(
        ranks.size(),
        per_chain,
        &resolved.run,
        &resolved.couplings,
    ))?;
    let staging = if ranks.is_root() {
        args.out.as_deref().map(Staging::begin).transpose()
    } else {
        Ok(None)
    };
    let staging = ranks.agree(staging)?;
    let n_groups = ranks.size() / per_chain;
    let group = ranks.rank() / per_chain;
    let chains = share(resolved.run.n_chains, n_groups, group);
    let run = &resolved.run;
    let total = chains.len() as u64 * (run.n_therm + run.n_sweeps);
    let bar = if ranks.is_root() {
        progress_bar(total, "sweeps")
    } else {
        indicatif::ProgressBar::hidden()
    };
    let rc = sample::with_progress(run);
    let start = Instant::now();
    let local = if per_chain == 1 {
        let range = chains.start as u64..chains.end as u64;
        sample::worker_pool(args)?.install(|| {
            run_chain_range_with(&resolved.couplings, &rc, range, |_| (), |n| bar.inc(n))
                .map(|(out, _)| Some(out.chains))
                .map_err(anyhow::Error::from)
        })
    } else {
        // On the main thread: MPI is called from it only.
        let comm = ranks.split(group);
        run_split_chains(&comm, &resolved.couplings, &rc, chains, &|n| bar.inc(n))
    };
    bar.finish_and_clear();
    let local = local.and_then(|chains| ranks.injected_failure().map(|()| chains));
    let local = ranks.agree(local)?;
    // Every rank sends at least its number of chains: MPI refuses empty contributions.
    let mut bytes = Encoder::default();
    let local = local.unwrap_or_default();
    bytes.u64(local.len() as u64);
    for chain in &local {
        encode_chain(&mut bytes, chain);
    }
    let Some(all) = ranks.gather_bytes(&bytes.bytes)? else {
        return Ok(());
    };
    let mut reader = Decoder::new(&all);
    let mut chains = Vec::with_capacity(run.n_chains);
    while !reader.is_empty() {
        for _ in 0..reader.u64()? {
            chains.push(decode_chain(&mut reader)?);
        }
    }
    if chains.len() != run.n_chains || chains.iter().enumerate().any(|(c, ch)| ch.chain != c as u64) {
        bail!(
            "the ranks returned {} chains out of order; expected {}",
            chains.len(),
            run.n_chains
        );
    }
    let two_point_r_max = None;
    let out = RunOutput {
        chains,
        two_point_r_max,
        wall_seconds: start.elapsed().as_secs_f64(),
    };
    sample::report(args, resolved, staging, out)
}

/// Refuses rank layouts that cannot run: ranks not a multiple of the ranks per chain, more
/// groups than chains, split lattices for schedules or couplings that cannot be split.
fn check_layout(n_ranks: usize, per_chain: usize, run: &RunConfig, couplings: &Couplings) -> Result<()> {
    if per_chain == 0 {
        bail!("--ranks-per-chain 0: give at least 1");
    }
    if !n_ranks.is_multiple_of(per_chain) {
        bail!(
            "{n_ranks} ranks do not split into groups of --ranks-per-chain {per_chain}; \
             run on a multiple of {per_chain} ranks"
        );
    }
    let most = run.n_chains.saturating_mul(per_chain);
    if n_ranks > most {
        bail!(
            "{n_ranks} ranks are more than {} chains × {per_chain} ranks per chain = {most}; \
             run on at most {most} ranks, or raise --chains",
            run.n_chains
        );
    }
    if per_chain > 1 {
        if run.algorithm != Algorithm::Metropolis {
            bail!(
                "--ranks-per-chain {per_chain} needs --algorithm metropolis: {} cannot be split over ranks \
                 (cluster updates stay on one rank, and the heat bath draws a variable number of random \
                 words per site); use --ranks-per-chain 1 for it",
                run.algorithm.name()
            );
        }
        if run.two_point {
            bail!("--ranks-per-chain above 1 does not measure the two-point function");
        }
        let ly = couplings.lattice().map_or(0, |(l, _)| l.ly());
        if per_chain > ly {
            bail!("--ranks-per-chain {per_chain} is more than the lattice's {ly} rows; give at most {ly}");
        }
        RowStrip::new(couplings, RowStrip::rows_of(ly, per_chain, 0)).context("--ranks-per-chain above 1")?;
    }
    Ok(())
}

/// The chains `chains` of one group, each split over the group's ranks; the outputs on the
/// group's first rank (`None` on the others).
fn run_split_chains(
    comm: &SimpleCommunicator,
    couplings: &Couplings,
    run: &RunConfig,
    chains: std::ops::Range<usize>,
    progress: &dyn Fn(u64),
) -> Result<Option<Vec<ChainOutput>>> {
    let (k, n_strips) = (comm.rank() as usize, comm.size() as usize);
    let ly = couplings.lattice().map_or(0, |(l, _)| l.ly());
    let strip = RowStrip::new(couplings, RowStrip::rows_of(ly, n_strips, k));
    let strip = agree_on(comm, strip.map_err(anyhow::Error::from))?;
    let mut outputs = Vec::new();
    for c in chains {
        let mut chain = SplitChain {
            comm,
            strip: strip.clone(),
            couplings,
            rng: chain_rng(run.seed, c as u64),
            step: RowStrip::initial_step(couplings),
            halo: [Vec::new(), Vec::new()],
        };
        outputs.push(chain.run(run, c as u64, progress));
    }
    Ok((k == 0).then_some(outputs))
}

/// One chain on the strips of a group: this rank's strip and the chain's generator (the same
/// on every rank of the group).
struct SplitChain<'a> {
    comm: &'a SimpleCommunicator,
    strip: RowStrip,
    couplings: &'a Couplings,
    rng: mc_sampler::SimRng,
    step: f64,
    halo: [Vec<f64>; 2],
}

impl SplitChain<'_> {
    /// One sweep (halo exchange, even half sweep, halo exchange, odd half sweep); the
    /// accepted proposals of this strip.
    fn sweep(&mut self) -> u64 {
        let mut accepted = 0;
        for parity in 0..2 {
            self.exchange_halo(1 - parity);
            accepted += self.strip.half_sweep(parity, &mut self.rng, self.step);
        }
        accepted
    }

    /// The sum of `count` over the group's strips (an integer sum: exact, in any order).
    fn group_sum(&self, count: u64) -> u64 {
        let mut total = 0u64;
        self.comm
            .all_reduce_into(&count, &mut total, mpi::collective::SystemOperation::sum());
        total
    }

    /// Sends the edge rows of `sublattice` to the strips below and above and receives their
    /// edge rows as this strip's halo rows.
    fn exchange_halo(&mut self, sublattice: usize) {
        let (k, n) = (self.comm.rank(), self.comm.size());
        let below = self.comm.process_at_rank((k + n - 1) % n);
        let above = self.comm.process_at_rank((k + 1) % n);
        let (first, last) = self.strip.edge_rows(sublattice);
        let [from_below, from_above] = &mut self.halo;
        from_below.resize(first.len(), 0.0);
        from_above.resize(first.len(), 0.0);
        // Upwards: my last row is the halo below of the strip above.
        p2p::send_receive_into(last, &above, &mut from_below[..], &below);
        // Downwards: my first row is the halo above of the strip below.
        p2p::send_receive_into(first, &below, &mut from_above[..], &above);
        self.strip.set_halo(sublattice, from_below, from_above);
    }

    /// The whole field in site order on the group's first rank (`None` elsewhere).
    fn gather_field(&self) -> Option<Vec<f64>> {
        let mine = self.strip.field();
        let bytes: Vec<u8> = mine.iter().flat_map(|x| x.to_le_bytes()).collect();
        let all = crate::mpi_ranks::gather_bytes_on(self.comm, &bytes).ok()??;
        Some(
            all.chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
        )
    }

    /// Thermalisation with step tuning, then the measured sweeps, as `run_chains` runs one
    /// chain; the output on the group's first rank.
    fn run(&mut self, run: &RunConfig, c: u64, progress: &dyn Fn(u64)) -> ChainOutput {
        let n = self.strip.n_sites() as u64;
        let start = Instant::now();
        let mut pending = 0u64;
        let tick = |pending: &mut u64| {
            *pending += 1;
            if run.progress_every > 0 && *pending >= run.progress_every {
                progress(*pending);
                *pending = 0;
            }
        };
        for _ in 0..run.n_therm {
            // The step is tuned from the whole lattice's acceptance after every sweep.
            let own = self.sweep();
            let accepted = self.group_sum(own);
            self.step = RowStrip::tuned_step(self.step, n, accepted);
            tick(&mut pending);
        }
        let mut update_seconds = start.elapsed().as_secs_f64();
        let (mut proposals, mut accepted) = (0u64, 0u64);
        let n_meas = (run.n_sweeps / run.measure_every) as usize;
        let mut observables = Vec::with_capacity(n_meas);
        let mut configs = run.save_configs.then(Vec::new);
        for sweep in 1..=run.n_sweeps {
            let t = Instant::now();
            accepted += self.sweep();
            proposals += n;
            update_seconds += t.elapsed().as_secs_f64();
            if sweep % run.measure_every == 0
                && let Some(phi) = self.gather_field()
            {
                observables.push(Observables::measure(self.couplings, &phi));
                if let Some(configs) = &mut configs {
                    configs.extend_from_slice(&phi);
                }
            }
            tick(&mut pending);
        }
        if pending > 0 && run.progress_every > 0 {
            progress(pending);
        }
        let accepted = self.group_sum(accepted);
        ChainOutput {
            chain: c,
            observables,
            configs,
            two_point: None,
            last_field: self.gather_field().unwrap_or_default(),
            acceptance: if proposals > 0 {
                accepted as f64 / proposals as f64
            } else {
                1.0
            },
            step_size: Some(self.step),
            mean_cluster_size: None,
            clusters_per_sweep: None,
            timing: Timing {
                update_seconds,
                site_updates: n * (run.n_therm + run.n_sweeps),
            },
        }
    }
}

/// Appends one chain's output (everything the report and the ensemble file use).
fn encode_chain(e: &mut Encoder, c: &ChainOutput) {
    e.u64(c.chain);
    e.u64(c.observables.len() as u64);
    for o in &c.observables {
        o.to_array().iter().for_each(|&x| e.f64(x));
    }
    e.opt_f64s(c.configs.as_deref());
    e.opt_f64s(c.two_point.as_deref());
    e.f64s(&c.last_field);
    e.f64(c.acceptance);
    e.opt_f64(c.step_size);
    e.opt_f64(c.mean_cluster_size);
    e.opt_f64(c.clusters_per_sweep.map(|n| n as f64));
    e.f64(c.timing.update_seconds);
    e.u64(c.timing.site_updates);
}

/// Reads what [`encode_chain`] appended.
fn decode_chain(d: &mut Decoder<'_>) -> Result<ChainOutput> {
    let chain = d.u64()?;
    let n_obs = usize::try_from(d.u64()?)?;
    let mut observables = Vec::with_capacity(n_obs.min(1 << 20));
    for _ in 0..n_obs {
        let [m, m_abs, m2, m4, phi2, phi4, nn, action_density] = [
            d.f64()?,
            d.f64()?,
            d.f64()?,
            d.f64()?,
            d.f64()?,
            d.f64()?,
            d.f64()?,
            d.f64()?,
        ];
        observables.push(Observables {
            m,
            m_abs,
            m2,
            m4,
            phi2,
            phi4,
            nn,
            action_density,
        });
    }
    Ok(ChainOutput {
        chain,
        observables,
        configs: d.opt_f64s()?,
        two_point: d.opt_f64s()?,
        last_field: d.f64s()?,
        acceptance: d.f64()?,
        step_size: d.opt_f64()?,
        mean_cluster_size: d.opt_f64()?,
        clusters_per_sweep: d.opt_f64()?.map(|n| n as usize),
        timing: Timing {
            update_seconds: d.f64()?,
            site_updates: d.u64()?,
        },
    })
}
