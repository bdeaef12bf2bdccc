//! Lattice-size parsing and the graph geometries shared by several commands.

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use mrf_graph::{Geometry, Graph, Lattice};

/// `--lattice L` or `--lattice LxLy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatticeSize {
    pub lx: usize,
    pub ly: usize,
}

impl std::str::FromStr for LatticeSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parse = |t: &str| {
            t.trim()
                .parse::<usize>()
                .map_err(|_| format!("`{s}` is not a lattice size: use L or LxLy, e.g. 64 or 32x16"))
        };
        match s.split_once(['x', 'X']) {
            Some((a, b)) => Ok(Self {
                lx: parse(a)?,
                ly: parse(b)?,
            }),
            None => {
                let l = parse(s)?;
                Ok(Self { lx: l, ly: l })
            }
        }
    }
}

impl LatticeSize {
    /// The validated periodic lattice.
    pub fn lattice(self) -> Result<Lattice> {
        crate::limits::check_sites(self.lx, self.ly)?;
        Ok(Lattice::new(self.lx, self.ly)?)
    }
}

/// The graphs a command can be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GeometryArg {
    /// Periodic square lattice (nearest neighbours).
    Square,
    /// Periodic triangular lattice.
    Triangular,
    /// Periodic square lattice with both diagonals.
    SquareDiagonals,
    /// Complete bipartite graph (visible × hidden).
    Bipartite,
}

impl GeometryArg {
    /// The periodic lattice geometry (`None` for the bipartite graph).
    pub fn lattice_geometry(self) -> Option<Geometry> {
        match self {
            GeometryArg::Square => Some(Geometry::Square),
            GeometryArg::Triangular => Some(Geometry::Triangular),
            GeometryArg::SquareDiagonals => Some(Geometry::SquareDiagonals),
            GeometryArg::Bipartite => None,
        }
    }

    /// The name on the command line and in output ([`Geometry::name`] for lattices).
    pub fn name(self) -> &'static str {
        self.lattice_geometry().map_or("bipartite", Geometry::name)
    }
}

/// Where the geometry flags of a command lead.
#[derive(Debug, Clone)]
pub struct BuiltGraph {
    pub graph: Graph,
    pub lattice: Option<Lattice>,
}

/// The size of a graph: a periodic lattice, or the two layers of a bipartite graph.
#[derive(Debug, Clone, Copy, Args)]
pub struct GraphSize {
    /// Periodic lattice size, L or LxLy (at least 4 in each direction, at most 2^26 sites).
    #[arg(long, allow_hyphen_values = true)]
    pub lattice: Option<LatticeSize>,
    /// Number of visible units (bipartite only; visible × hidden at most 2^24).
    #[arg(long, allow_hyphen_values = true, value_parser = crate::limits::whole_usize)]
    pub visible: Option<usize>,
    /// Number of hidden units (bipartite only).
    #[arg(long, allow_hyphen_values = true, value_parser = crate::limits::whole_usize)]
    pub hidden: Option<usize>,
}

impl GraphSize {
    /// The graph of `geometry` at this size.
    pub fn build(&self, geometry: GeometryArg) -> Result<BuiltGraph> {
        let GraphSize {
            lattice,
            visible,
            hidden,
        } = *self;
        if geometry == GeometryArg::Bipartite {
            if lattice.is_some() {
                bail!("--lattice does not apply to --geometry bipartite; give --visible N --hidden M");
            }
            let (Some(n), Some(m)) = (visible, hidden) else {
                bail!("--geometry bipartite needs --visible N and --hidden M");
            };
            crate::limits::check_bipartite(n, m)?;
            return Ok(BuiltGraph {
                graph: Graph::complete_bipartite(n, m)?,
                lattice: None,
            });
        }
        if visible.is_some() || hidden.is_some() {
            bail!("--visible/--hidden only apply to --geometry bipartite");
        }
        let size = lattice.with_context(|| format!("--geometry {} needs --lattice L (or LxLy)", geometry.name()))?;
        let lattice = size.lattice()?;
        let kind = geometry.lattice_geometry().expect("bipartite is handled above");
        Ok(BuiltGraph {
            graph: Graph::periodic(kind, &lattice),
            lattice: Some(lattice),
        })
    }
}
