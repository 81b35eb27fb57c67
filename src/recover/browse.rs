//! The state of a DLE as of a date, browsed from the indexes alone: the newest dump of the
//! chain says which names exist (its dumpdirs list every name, so deleted files are gone);
//! names it lists as unchanged take their metadata from the older dump that holds them.

use crate::catalog::DumpRecord;
use crate::catalog::tree::{self, Node, Tree};
use anyhow::{Result, bail};
use std::collections::HashMap;
use std::path::Path;

/// One name in a directory as of the chosen date.
#[derive(Debug, Clone)]
pub struct Item {
    pub node: Node,
    /// The datestamp of the dump that holds its content (`None` if no dump of the chain does).
    pub datestamp: Option<String>,
}

/// The chain's trees, oldest first.
pub struct View {
    dumps: Vec<(DumpRecord, Tree)>,
}

impl View {
    pub fn open(catalog: &Path, chain: &[&DumpRecord]) -> Result<View> {
        let mut dumps = Vec::new();
        for r in chain {
            let Some(ix) = &r.index else {
                bail!(
                    "the dump of {} {} on {} (level {}) has no index: browse needs indexes; \
                     restore with `tapir recover --host --disk --date --to DIR` instead",
                    r.host,
                    r.disk,
                    r.datestamp,
                    r.level
                );
            };
            dumps.push(((*r).clone(), tree::open_for_index(&catalog.join(ix))?));
        }
        Ok(View { dumps })
    }

    pub fn chain(&self) -> impl Iterator<Item = &DumpRecord> {
        self.dumps.iter().map(|(r, _)| r)
    }

    /// The directory `dir` (components) as of the newest dump, or `None` if it is not one.
    pub fn list(&mut self, dir: &[String]) -> Result<Option<Vec<Item>>> {
        let Some(((newest, tree), older)) = self.dumps.split_last_mut() else {
            return Ok(None);
        };
        let Some(nodes) = tree.list(dir)? else {
            return Ok(None);
        };
        let mut items: Vec<Item> = nodes
            .into_iter()
            .map(|node| Item {
                datestamp: (!node.prev).then(|| newest.datestamp.clone()),
                node,
            })
            .collect();
        // Unchanged names: walk back through the chain, one listing per older dump, only
        // while some name still lacks its content.
        for (rec, tree) in older.iter_mut().rev() {
            if items.iter().all(|i| !i.node.prev) {
                break;
            }
            let Some(old) = tree.list(dir)? else {
                continue;
            };
            let by_name: HashMap<&str, &Node> = old.iter().map(|n| (n.n.as_str(), n)).collect();
            for item in items.iter_mut().filter(|i| i.node.prev) {
                if let Some(n) = by_name.get(item.node.n.as_str()) {
                    let b = std::mem::take(&mut item.node.b);
                    item.node = (*n).clone();
                    item.node.b = b;
                    if !n.prev {
                        item.datestamp = Some(rec.datestamp.clone());
                    }
                }
            }
        }
        Ok(Some(items))
    }

    /// The item at `path` (components); the root is a directory with no item.
    pub fn stat(&mut self, path: &[String]) -> Result<Option<Item>> {
        let Some((name, parent)) = path.split_last() else {
            return Ok(None);
        };
        Ok(self
            .list(parent)?
            .and_then(|items| items.into_iter().find(|i| &i.node.n == name)))
    }
}
