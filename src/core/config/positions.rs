//! Where each key of a YAML file is: `pipeline[1].soak` → line 12,
//! column 5. Read from the parser's marked events (yaml-rust2), so that a
//! problem named by its key path can point at the line an editor shows.

use std::collections::BTreeMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A line and a column, both from 1.
pub(crate) type Position = (usize, usize);

/// The position of every key path in `yaml` (a mapping key's own
/// position; a sequence item's start). Empty when the text is not YAML.
pub(crate) fn positions(yaml: &str) -> BTreeMap<String, Position> {
    let mut index = Index::default();
    let mut parser = Parser::new_from_str(yaml);
    if parser.load(&mut index, false).is_err() {
        return BTreeMap::new();
    }
    index.found
}

/// One open mapping or sequence, with the path of the node it is.
enum Frame {
    Map {
        path: String,
        /// The key whose value comes next; `None` while a key is awaited.
        key: Option<String>,
    },
    Seq {
        path: String,
        next: usize,
    },
}

#[derive(Default)]
struct Index {
    stack: Vec<Frame>,
    found: BTreeMap<String, Position>,
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl Index {
    /// The path of the node starting now, or `None` for a mapping key
    /// (recorded, and awaited as the next node's name).
    fn node(&mut self, scalar: Option<&str>, mark: Marker) -> Option<String> {
        // yaml-rust2 counts columns from 0.
        let at = (mark.line(), mark.col() + 1);
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, next }) => {
                let p = format!("{path}[{next}]");
                *next += 1;
                self.found.entry(p.clone()).or_insert(at);
                Some(p)
            }
            Some(Frame::Map { path, key }) => match key.take() {
                Some(k) => Some(join(path, &k)),
                None => {
                    // A key: a scalar names its value; a complex key is
                    // not a gatebot key, and its value gets no path.
                    let k = scalar.unwrap_or("?").to_string();
                    self.found.entry(join(path, &k)).or_insert(at);
                    // A block mapping's start is marked at its first
                    // value: the mapping begins at its first key.
                    if let Some(own) = self.found.get_mut(path.as_str()) {
                        *own = (*own).min(at);
                    }
                    *key = Some(k);
                    None
                }
            },
        }
    }
}

impl MarkedEventReceiver for Index {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, ..) => {
                self.node(Some(&value), mark);
            }
            Event::Alias(_) => {
                self.node(None, mark);
            }
            Event::MappingStart(..) => {
                let path = self.node(None, mark).unwrap_or_default();
                self.stack.push(Frame::Map { path, key: None });
            }
            Event::SequenceStart(..) => {
                let path = self.node(None, mark).unwrap_or_default();
                self.stack.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_items_are_found_where_an_editor_shows_them() {
        let yaml = "roles:\n  qa: [alice]\npipeline:\n  - environment: staging\n    soak: 1x\n  - {environment: production, soak: 2h}\n";
        let p = positions(yaml);
        assert_eq!(p.get("roles"), Some(&(1, 1)));
        assert_eq!(p.get("roles.qa"), Some(&(2, 3)));
        assert_eq!(p.get("roles.qa[0]"), Some(&(2, 8)));
        assert_eq!(p.get("pipeline[0]"), Some(&(4, 5)));
        assert_eq!(p.get("pipeline[0].soak"), Some(&(5, 5)));
        assert_eq!(p.get("pipeline[1].soak"), Some(&(6, 31)));
    }

    #[test]
    fn text_that_is_not_yaml_has_no_positions() {
        assert!(positions("a: [1, 2\n").is_empty());
        assert!(positions("").is_empty());
    }
}
