//! The image format: golden bytes, and refusal of anything that is not an image.

use super::tests::{key, P};
use super::*;
use crate::algo::error::ErrorKind;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A small engine of every part of the image: an emitted window awaiting an amendment,
/// an open window, stats, a watermark.
fn golden_engine() -> WindowEngine {
    let params = Params {
        kind: WindowKind::tumbling(10).unwrap(),
        group_by: vec!["k".into()],
        time_field: "ts".into(),
        max_out_of_orderness: 0,
        allowed_lateness: 5,
        idle_timeout: None,
        max_open_windows: 7,
    };
    let c = Config::new(
        params,
        &[("n".into(), "count".into()), ("s".into(), "sum(v)".into())],
    );
    let mut e = WindowEngine::new(c.unwrap()).unwrap();
    let mut b = Batch::new(1, 0);
    b.push(1, &key("a"), &[Num::Int(2)], &[]);
    b.push(12, &key("a"), &[Num::Float(0.5)], &[]);
    e.process(P, &b, None, None, None, &mut Output::default())
        .unwrap();
    e
}

#[test]
fn golden_image() {
    let e = golden_engine();
    let bytes = e.to_bytes();
    assert_eq!(&bytes[..4], b"DN\x05\x01");
    assert_eq!(
        hex(&bytes),
        GOLDEN,
        "the image changed: bump the version and keep reading version 1"
    );
    let back = WindowEngine::from_bytes(&bytes).unwrap();
    assert_eq!(back.to_bytes(), bytes);
    assert_eq!(
        (back.watermark(), back.window_count(), back.stats()),
        (Some(12), 2, e.stats())
    );
}

const GOLDEN: &str = concat!(
    "444e0501000a000000000000000a0000000000000000000000000000000500000000000000000000",
    "000000000000070000000000000002000000747301000000010000006b02000000010000006e0500",
    "0000636f756e7401000000730600000073756d2876291f000000444e040103000000000000000001",
    "0000000101000000700000000000002840010c000000000000000200000000000000000000000000",
    "00000000000000000000010000000000000000000000000000000000000000000000000000000000",
    "00000000000000000000010000000600000005010000006102000000000000000000000000000000",
    "0a000000000000000100000000020000000101000000000000000000000000000000010200000000",
    "00000000000000000000000100000000000000010000000000000002000000000000000000000000",
    "0000000000000000000000000000000000000000000000000a000000000000001400000000000000",
    "00000000000100000000000000010000000000000000000000000000000000000000000000000000",
    "000000e03f000000000000000001010000000100000000000000",
);

#[test]
fn anything_else_is_refused() {
    let good = golden_engine().to_bytes();
    for n in 0..good.len() {
        let err = WindowEngine::from_bytes(&good[..n]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Corrupt, "prefix of {n} bytes");
    }
    let mut long = good.clone();
    long.push(0);
    assert_eq!(
        WindowEngine::from_bytes(&long).unwrap_err().kind,
        ErrorKind::Corrupt
    );
    let mut other = good.clone();
    other[2] = 4;
    assert_eq!(
        WindowEngine::from_bytes(&other).unwrap_err().kind,
        ErrorKind::Corrupt
    );
    // Flip each byte in turn: the result is refused or reads back as some valid engine,
    // never a panic.
    for i in 4..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x5a;
        if let Ok(e) = WindowEngine::from_bytes(&bad) {
            let _ = e.to_bytes();
        }
    }
}
