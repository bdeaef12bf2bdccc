//! Statistics of Markov-chain data.
