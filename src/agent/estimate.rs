//! Estimates: one walk of a DLE that sums, for level 0 and each candidate incremental level,
//! the tar bytes that dump would have. Nothing is read but metadata.

use super::walk::changed_since;
use crate::transport::protocol::{EstimateRequest, FrameWriter, Message};
use anyhow::Result;
use std::io::Write;
use std::os::unix::fs::MetadataExt;

/// Tar bytes of one member: header plus data padded to 512.
fn tar_size(md: &std::fs::Metadata) -> u64 {
    let data = if md.is_file() {
        md.size().div_ceil(512) * 512
    } else {
        0
    };
    512 + data
}

/// Walk the request's tree once and answer with sizes per level.
pub fn answer<W: Write>(
    out: &mut FrameWriter<W>,
    req: &EstimateRequest,
    policy: &super::Policy,
) -> Result<()> {
    if let Some(name) = &req.program {
        let sized = policy
            .program(name, &req.path)
            .and_then(|p| super::program::run_estimate(p, name, &req.path));
        return match sized {
            Ok(n) => out
                .send(&Message::EstimateResult {
                    sizes: n.map(|n| (0, n)).into_iter().collect(),
                })
                .map_err(Into::into),
            Err(e) => super::answer_refused(out, policy, &format!("estimate {:?}", req.path), e),
        };
    }
    let lists = super::Lists {
        exclude: &req.exclude_list,
        include: &req.include_list,
        optional: req.optional_lists,
    };
    let checked = super::check_request(policy, &req.path, &req.exclude, &req.include, &lists);
    let (root, select) = match checked {
        Ok(c) => c,
        Err(e) => {
            return super::answer_refused(out, policy, &format!("estimate {:?}", req.path), e);
        }
    };
    let root = root.as_path();
    let mut full = 1024u64;
    let mut incr: Vec<u64> = vec![1024; req.since.len()];
    let it = walkdir::WalkDir::new(root)
        .follow_root_links(true)
        .same_file_system(req.one_file_system)
        .into_iter()
        .filter_entry(|e| {
            e.path()
                .strip_prefix(root)
                .map_or(true, |r| !select.skips(r))
        });
    for e in it.filter_map(|e| e.ok()) {
        let Ok(md) = e.metadata() else { continue };
        let size = tar_size(&md);
        full += size;
        for (i, (_, t)) in req.since.iter().enumerate() {
            if md.is_dir() || changed_since(&md, *t) {
                incr[i] += size;
            }
        }
    }
    let mut sizes = vec![(0u8, full)];
    sizes.extend(req.since.iter().map(|(l, _)| *l).zip(incr));
    out.send(&Message::EstimateResult { sizes })?;
    Ok(())
}
