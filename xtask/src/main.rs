fn main() -> anyhow::Result<()> {
    anyhow::bail!("usage: cargo xtask reproduce [--quick] [--only NAME]")
}
