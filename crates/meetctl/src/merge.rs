//! "Keep the operator's edits": an existing config file gains only the keys
//! a freshly generated one has and it lacks. Values present are never
//! changed, comments and order are kept (toml_edit preserves them).
//!
//! Rules (docs/configuration.md, "meetctl setup"):
//! - a key missing from a table is added with the generated value and the
//!   generated comment above it;
//! - a table missing entirely is added whole; a table present is merged key
//!   by key; a key whose value is not a table where a table is expected is
//!   left alone (the operator's choice);
//! - arrays of tables (`[[virtual_host]]`, `[[component]]`) are matched by
//!   their `host` key: a missing host is appended, a present one merged;
//! - "collections" (tables whose keys are names the operator picks, such as
//!   the videobridge's `configs.shard`) are filled only when empty: a
//!   renamed entry must not bring back a second, half-configured one;
//! - plain values, arrays and inline tables are atomic: present means kept.

use toml_edit::{Item, Table};

/// Merge `want` into `have` by the rules above. `path` is the dotted name of
/// `have` (empty at the top); `collections` lists dotted paths of
/// collection tables. Returns the dotted names of what was added.
pub fn fill_missing(have: &mut Table, want: &Table, collections: &[&str]) -> Vec<String> {
    let mut added = Vec::new();
    fill(have, want, "", collections, &mut added);
    added
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn fill(have: &mut Table, want: &Table, path: &str, collections: &[&str], added: &mut Vec<String>) {
    if collections.contains(&path) && !have.is_empty() {
        return;
    }
    for (key, item) in want.iter() {
        let here = join(path, key);
        match (have.get_mut(key), item) {
            (None, _) => {
                let mut item = item.clone();
                clear_positions(&mut item);
                // With the key's own decor: the generated comment comes along.
                match want.key(key) {
                    Some(k) => have.insert_formatted(k, item),
                    None => have.insert(key, item),
                };
                added.push(here);
            }
            (Some(Item::Table(have_t)), Item::Table(want_t)) => {
                fill(have_t, want_t, &here, collections, added);
            }
            (Some(Item::ArrayOfTables(have_a)), Item::ArrayOfTables(want_a)) => {
                for want_t in want_a.iter() {
                    let id = want_t.get("host").and_then(Item::as_str);
                    let found = have_a
                        .iter_mut()
                        .find(|t| id.is_some() && t.get("host").and_then(Item::as_str) == id);
                    let label = format!("{here}[host={}]", id.unwrap_or("?"));
                    match found {
                        Some(have_t) => fill(have_t, want_t, &label, collections, added),
                        None => {
                            let mut t = want_t.clone();
                            t.set_position(None);
                            clear_table_positions(&mut t);
                            have_a.push(t);
                            added.push(label);
                        }
                    }
                }
            }
            // A value (or a different kind of item) the operator set: kept.
            (Some(_), _) => {}
        }
    }
}

/// Inserted tables take their place after the table before them; positions
/// copied from the generated document would interleave them with the
/// operator's tables instead.
fn clear_positions(item: &mut Item) {
    match item {
        Item::Table(t) => {
            t.set_position(None);
            clear_table_positions(t);
        }
        Item::ArrayOfTables(a) => {
            for t in a.iter_mut() {
                t.set_position(None);
                clear_table_positions(t);
            }
        }
        _ => {}
    }
}

fn clear_table_positions(t: &mut Table) {
    for (_, item) in t.iter_mut() {
        clear_positions(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use toml_edit::DocumentMut;

    fn merged(have: &str, want: &str, collections: &[&str]) -> (String, Vec<String>) {
        let mut have: DocumentMut = have.parse().expect("have");
        let want: DocumentMut = want.parse().expect("want");
        let added = fill_missing(have.as_table_mut(), want.as_table(), collections);
        (have.to_string(), added)
    }

    #[test]
    fn keeps_values_and_comments_adds_missing_keys() {
        let (out, added) = merged(
            "# mine\na = 5 # edited\n\n[t]\nx = \"mine\"\n",
            "a = 1\n# about b\nb = 2\n\n[t]\nx = \"gen\"\ny = true\n\n[u]\nz = 3\n",
            &[],
        );
        assert_eq!(added, ["b", "t.y", "u"]);
        assert!(out.starts_with("# mine\na = 5 # edited\n"), "{out}");
        assert!(out.contains("# about b\nb = 2"), "{out}");
        assert!(out.contains("x = \"mine\""), "{out}");
        let back: DocumentMut = out.parse().expect("valid TOML");
        assert_eq!(back["t"]["y"].as_bool(), Some(true));
        assert_eq!(back["u"]["z"].as_integer(), Some(3));
    }

    #[test]
    fn arrays_of_tables_match_by_host() {
        let (out, added) = merged(
            "[[h]]\nhost = \"a\"\nauth = \"mine\"\n",
            "[[h]]\nhost = \"a\"\nauth = \"gen\"\nssl = 1\n\n[[h]]\nhost = \"b\"\n",
            &[],
        );
        assert_eq!(added, ["h[host=a].ssl", "h[host=b]"]);
        let back: DocumentMut = out.parse().expect("valid");
        let hs = back["h"].as_array_of_tables().expect("aot");
        assert_eq!(hs.len(), 2);
        assert_eq!(hs.get(0).and_then(|t| t["auth"].as_str()), Some("mine"));
        assert_eq!(hs.get(1).and_then(|t| t["host"].as_str()), Some("b"));
    }

    #[test]
    fn a_renamed_collection_entry_is_not_doubled() {
        let want = "[c.configs.shard]\np = \"gen\"\n";
        let (out, added) = merged("[c.configs.mine]\np = \"x\"\n", want, &["c.configs"]);
        assert!(added.is_empty(), "{added:?}");
        assert!(!out.contains("shard"), "{out}");
        let (out, added) = merged("[c]\n", want, &["c.configs"]);
        assert_eq!(added, ["c.configs"]);
        assert!(out.contains("p = \"gen\""), "{out}");
    }

    #[test]
    fn a_value_where_a_table_is_expected_is_kept() {
        let (out, added) = merged("t = 1\n", "[t]\nx = 1\n", &[]);
        assert!(added.is_empty());
        assert_eq!(out, "t = 1\n");
    }
}
