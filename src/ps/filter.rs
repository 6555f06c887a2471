//! Which shards one parameter-server process serves.
//!
//! A shard is one layer: a tensor name up to its last `.`, such as
//! `generator.0` for `generator.0.weight`. A filter is a list of shard
//! names or prefixes (`generator`, `discriminator`, `discriminator.1`); a
//! shard matches an entry when it equals the entry or starts with the entry
//! followed by `.`, so `discriminator.1` does not match `discriminator.10`.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// The networks whose parameters a shard can hold. Every shard name starts
/// with one of them, so G and D never share a shard.
pub const NETWORKS: [&str; 2] = ["generator", "discriminator"];

/// A rejected shard name or filter entry.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("invalid shard name `{name}`: {reason}")]
pub struct InvalidShardName {
    pub name: String,
    pub reason: String,
}

/// Returns the shard of a tensor: its name up to the last `.`, or `None`
/// when the name has no `.`.
pub fn shard_of(tensor_name: &str) -> Option<&str> {
    tensor_name.rsplit_once('.').map(|(shard, _)| shard)
}

/// Checks that `name` is dot-separated segments of ASCII letters, digits
/// and `_`, starting with one of [`NETWORKS`].
pub fn validate_shard_name(name: &str) -> Result<(), InvalidShardName> {
    let invalid = |reason: String| InvalidShardName { name: name.to_string(), reason };
    let root = name.split('.').next().unwrap_or_default();
    if !NETWORKS.contains(&root) {
        return Err(invalid(format!("it must start with one of {NETWORKS:?}")));
    }
    for segment in name.split('.') {
        if segment.is_empty() {
            return Err(invalid("it has an empty segment between dots".into()));
        }
        if !segment.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(invalid(format!(
                "segment `{segment}` may hold only letters, digits and `_`"
            )));
        }
    }
    Ok(())
}

/// The set of shards a process serves: every shard, or those matching a
/// list of names and prefixes. Default is every shard.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ShardFilter {
    /// Serves every shard, written `*`.
    #[default]
    All,
    /// Serves the shards matching one of these validated entries.
    Only(Vec<String>),
}

impl ShardFilter {
    /// Builds a filter from entries, validating each; an empty list is
    /// rejected because it would serve nothing.
    pub fn only<I, S>(entries: I) -> Result<ShardFilter, InvalidShardName>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let entries: Vec<String> = entries.into_iter().map(Into::into).collect();
        if entries.is_empty() {
            return Err(InvalidShardName {
                name: String::new(),
                reason: "the shard list is empty; give `*` to serve every shard".into(),
            });
        }
        for entry in &entries {
            validate_shard_name(entry)?;
        }
        Ok(ShardFilter::Only(entries))
    }

    /// Whether this filter serves `shard`.
    pub fn serves(&self, shard: &str) -> bool {
        match self {
            ShardFilter::All => true,
            ShardFilter::Only(entries) => entries.iter().any(|entry| {
                shard == entry
                    || (shard.starts_with(entry.as_str()) && shard[entry.len()..].starts_with('.'))
            }),
        }
    }
}

impl FromStr for ShardFilter {
    type Err = InvalidShardName;

    /// Parses `*` or a comma-separated list such as `generator,discriminator.1`.
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        if spec.trim() == "*" {
            return Ok(ShardFilter::All);
        }
        ShardFilter::only(spec.split(',').map(str::trim).filter(|entry| !entry.is_empty()))
    }
}

impl fmt::Display for ShardFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardFilter::All => f.write_str("*"),
            ShardFilter::Only(entries) => f.write_str(&entries.join(",")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_matches_whole_segments() {
        let filter: ShardFilter = "generator, discriminator.1".parse().unwrap();
        assert!(filter.serves("generator.0"));
        assert!(filter.serves("discriminator.1"));
        assert!(!filter.serves("discriminator.10"));
        assert!(!filter.serves("discriminator.0"));
        assert!(!filter.serves("generatorx.0"));
        assert_eq!(filter.to_string(), "generator,discriminator.1");
    }

    #[test]
    fn star_serves_everything() {
        let filter: ShardFilter = "*".parse().unwrap();
        assert_eq!(filter, ShardFilter::All);
        assert!(filter.serves("discriminator.2"));
    }

    #[test]
    fn bad_entries_are_rejected() {
        for spec in ["", " , ", "gen", "generator..1", "generator.0-1", "discriminator."] {
            assert!(spec.parse::<ShardFilter>().is_err(), "`{spec}` should be rejected");
        }
    }

    #[test]
    fn shard_of_cuts_at_last_dot() {
        assert_eq!(shard_of("generator.0.weight"), Some("generator.0"));
        assert_eq!(shard_of("weight"), None);
    }
}
