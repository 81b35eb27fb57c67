//! The paper copy of an age identity: a page to print and put in the safe, with the key in
//! groups of four for typing it back, a checksum line, and a QR code; and the way back from
//! what an admin types (`tapir keygen --from-paper`). A key on paper survives what disks and
//! password managers do not.

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

const PREFIX: &str = "AGE-SECRET-KEY-1";

/// The page for `secret` (`AGE-SECRET-KEY-1…`) and its recipient.
pub fn page(secret: &str, recipient: &str, created: &str) -> Result<String> {
    let qr = qrcode::QrCode::new(secret.as_bytes())
        .map_err(|e| anyhow::anyhow!("cannot make the QR code: {e}"))?
        .render::<char>()
        .dark_color('#')
        .light_color(' ')
        .module_dimensions(2, 1)
        .build();
    let body = &secret[PREFIX.len()..];
    let groups: Vec<String> = body
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    let lines: Vec<String> = groups.chunks(8).map(|g| g.join(" ")).collect();
    Ok(format!(
        "tapir age identity: PAPER COPY (keep it in the safe; whoever reads it reads the backups)\n\
         created:    {created}\n\
         public key: {recipient}\n\
         \n\
         The identity (spaces and line breaks do not matter when it is typed back):\n\
         \n\
         {PREFIX}\n{}\n\
         \n\
         checksum: {}\n\
         \n\
         To make the identity file again, type the lines from {PREFIX} to the checksum\n\
         line into:   tapir keygen --from-paper -o identity.txt\n\
         It must print the public key above. Or scan the QR code (it holds the key line).\n\
         \n{qr}\n",
        lines.join("\n"),
        checksum(secret)
    ))
}

/// 8 hex digits of the sha256 of the key line, in two groups.
fn checksum(secret: &str) -> String {
    let h = crate::units::hex(&Sha256::digest(secret.as_bytes()));
    format!("{} {}", &h[..4], &h[4..8])
}

/// The identity typed back from a page: the key (from `AGE-SECRET-KEY-1`, spaces and line
/// breaks ignored, either case) and, when typed too, the checksum line, which must match.
pub fn read(typed: &str) -> Result<age::x25519::Identity> {
    let mut key = String::new();
    let mut sum = None;
    let mut started = false;
    for line in typed.lines() {
        let l = line.trim();
        if let Some(s) = l.to_ascii_lowercase().strip_prefix("checksum:") {
            sum = Some(s.split_whitespace().collect::<String>()).filter(|s| !s.is_empty());
            break;
        }
        let upper: String = l
            .split_whitespace()
            .collect::<String>()
            .to_ascii_uppercase();
        if !started {
            match upper.find(PREFIX) {
                Some(at) => {
                    started = true;
                    key.push_str(&upper[at..]);
                }
                None => continue,
            }
        } else if !upper.is_empty() {
            key.push_str(&upper);
        }
    }
    if key.is_empty() {
        bail!("no {PREFIX}… line in what was typed");
    }
    let id: age::x25519::Identity = key.parse().map_err(|e| {
        anyhow::anyhow!("not a valid age identity ({e}): a typo? bech32's own check caught it")
    })?;
    if let Some(s) = sum {
        let want = checksum(&key).replace(' ', "");
        if s != want {
            bail!("the checksum typed is {s}, the key typed gives {want}: a typo in one of them");
        }
    }
    Ok(id)
}

/// Read a page typed on stdin and write the identity file (0600, never overwriting).
pub fn restore(typed: &str, out: &std::path::Path) -> Result<String> {
    let id = read(typed)?;
    let recipient = id.to_public().to_string();
    let secret = age::secrecy::ExposeSecret::expose_secret(&id.to_string()).to_string();
    let body = format!("# typed back from its paper copy\n# public key: {recipient}\n{secret}\n");
    crate::fsutil::create_secret(out, body.as_bytes())
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok(recipient)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_reads_back_and_a_typo_is_caught() {
        let id = age::x25519::Identity::generate();
        let secret = age::secrecy::ExposeSecret::expose_secret(&id.to_string()).to_string();
        let r = id.to_public().to_string();
        let p = page(&secret, &r, "now").unwrap();
        assert!(p.contains(&r) && p.contains("####"), "{p}");
        let back = read(&p).unwrap();
        assert_eq!(back.to_public().to_string(), r);
        // typed in lower case, with other line breaks
        let key = p.find(PREFIX).unwrap();
        let sum = p.find("checksum:").unwrap();
        let typed = format!(
            "{}{}",
            p[key..sum].to_lowercase().replace(' ', "\n"),
            &p[sum..]
        );
        assert_eq!(read(&typed).unwrap().to_public().to_string(), r);
        // a wrong checksum
        let wrong = typed.replace("checksum: ", "checksum: 0");
        assert!(read(&wrong).err().unwrap().to_string().contains("checksum"));
        // one character wrong
        let at = p.find(PREFIX).unwrap() + PREFIX.len() + 3;
        let mut bad = p.clone();
        let c = if &p[at..at + 1] == "Q" { "P" } else { "Q" };
        bad.replace_range(at..at + 1, c);
        assert!(read(&bad).is_err());
    }
}
