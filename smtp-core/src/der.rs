//! Just enough DER (X.690) to walk a certificate or a private key: one
//! element at a time, its tag, its content and what follows it. Shared
//! by the DKIM key loader and smtp-send's certificate summary.

/// One DER element of `data`: its tag, its content, and what follows it;
/// `None` when it is cut short, has a multi-byte tag (absent from keys and
/// certificates) or a length of more than four octets.
pub fn element(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = data.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::element;

    #[test]
    fn short_long_and_broken_lengths() {
        assert_eq!(
            element(&[0x02, 0x01, 0x05, 0xff]),
            Some((0x02, &[5u8][..], &[0xffu8][..]))
        );
        let long = [&[0x04, 0x81, 0x80][..], &[7u8; 0x80]].concat();
        assert_eq!(
            element(&long).map(|(t, c, r)| (t, c.len(), r.len())),
            Some((0x04, 0x80, 0))
        );
        assert_eq!(element(&[0x04, 0x05, 1, 2]), None, "cut short");
        assert_eq!(element(&[0x1f, 0x01, 0x00]), None, "multi-byte tag");
        assert_eq!(
            element(&[0x04, 0x85, 1, 1, 1, 1, 1]),
            None,
            "five length octets"
        );
        assert_eq!(element(&[0x04, 0x80]), None, "indefinite length");
        assert_eq!(element(&[]), None);
    }
}
